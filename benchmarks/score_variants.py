"""How the published LDS / LPS and tfusion's fast variants agree, and how stable each is.

Pairs of window sets from ETTh1 (7 channels, min-max scaled on the whole series, stride-1 windows
of length L): a real set A of n windows against

- `real`: another n real windows B (the floor: both scores should sit at their minimum),
- `shuffled`: B with the time steps of every window permuted (clearly separable),
- `jittered`: B plus Gaussian noise of 0.15 x each channel's standard deviation (lightly perturbed),
- `model`: n windows sampled from `small` trained on the same windows for `--train-seconds`.

Every (L, pair, variant, seed) is one task; tasks run in `--workers` processes of one thread each
and each result is appended to results/score_variants_L{L}.json as soon as it is done (a rerun
skips what is there). `--table` prints the per-seed table from the JSON files.

    .venv/bin/python benchmarks/score_variants.py --lengths 24 100 384 --workers 2
    .venv/bin/python benchmarks/score_variants.py --table
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tfusion.config import TrainConfig
from tfusion.metrics.discriminative import lds, lds_fast
from tfusion.metrics.distribution import normalise
from tfusion.metrics.predictive import lps, lps_fast
from tfusion.timeseries.config import DataConfig, ModelConfig, RunConfig
from tfusion.timeseries.data import prepare
from tfusion.timeseries.sample import TimeSeriesRun
from tfusion.timeseries.train import train_timeseries

HERE = Path(__file__).resolve().parent
DATA = HERE.parents[1] / "shared" / "data" / "ETTh1.csv"
RESULTS = HERE / "results"
CACHE = HERE / "out" / "score_variants"
PAIRS = ("real", "shuffled", "jittered", "model")
VARIANTS = {"lds": lds, "lds-fast": lds_fast, "lps": lps, "lps-fast": lps_fast}
WINDOWS = {24: 2000, 100: 2000, 384: 1000}  # n real + n other per pair
TRAIN_SECONDS = {24: 150, 100: 240, 384: 420}


def pairs_for(length: int, train_seconds: float) -> Path:
    """Build (once) and cache the window sets of every pair at this length, in [0, 1] units."""
    path = CACHE / f"pairs_L{length}.npz"
    if path.exists():
        return path
    CACHE.mkdir(parents=True, exist_ok=True)
    data = DataConfig(source=str(DATA), window=length, stride=1, split="none")
    windows = prepare(data).train.to_array()
    n = WINDOWS.get(length, 1000)
    idx = np.random.default_rng(0).permutation(len(windows))
    a, b = windows[idx[:n]], windows[idx[n : 2 * n]]
    run = CACHE / f"model_L{length}"
    if not (run / "fit_record.json").exists():
        cfg = RunConfig(
            data=data,
            model=ModelConfig(preset="small"),
            train=TrainConfig(
                steps=100000, batch_size=64, max_seconds=train_seconds, progress=False
            ),
        )
        done = train_timeseries(cfg, run)
        (run / "fit_record.json").write_text(
            json.dumps({"seconds": done.seconds, "steps": done.steps})
        )
    model = TimeSeriesRun.load(run).generate(n, seed=0, scaled=True)  # units of `windows`
    rng = np.random.default_rng(1)
    shuffled = np.stack([w[rng.permutation(length)] for w in b])
    jittered = b + 0.15 * b.std(axis=(0, 1)) * rng.standard_normal(b.shape)
    sets = {}
    for name, other in zip(PAIRS, (b, shuffled, jittered, model), strict=True):
        r, s = normalise(a.astype(np.float64), other.astype(np.float64))
        sets[f"{name}_real"], sets[f"{name}_other"] = r.astype(np.float32), s.astype(np.float32)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, **sets)
    tmp.replace(path)
    return path


def run_task(task: tuple[int, str, str, int, str]) -> dict[str, Any]:
    length, pair, variant, seed, path = task
    torch.set_num_threads(1)
    sets = np.load(path)
    t0 = time.perf_counter()
    score = VARIANTS[variant](sets[f"{pair}_real"], sets[f"{pair}_other"], seed=seed)
    return {
        "length": length,
        "pair": pair,
        "variant": variant,
        "seed": seed,
        "score": float(score),
        "seconds": time.perf_counter() - t0,
    }


def result_file(length: int) -> Path:
    return RESULTS / f"score_variants_L{length}.json"


def load(length: int) -> list[dict[str, Any]]:
    f = result_file(length)
    return json.loads(f.read_text())["runs"] if f.exists() else []


def save(length: int, runs: list[dict[str, Any]]) -> None:
    f = result_file(length)
    body = {
        "data": "ETTh1, min-max on the whole series, stride-1 windows, 7 channels",
        "windows": WINDOWS.get(length, 1000),
        "machine": platform.processor() or platform.machine(),
        "threads_per_task": 1,
        "runs": sorted(runs, key=lambda r: (r["pair"], r["variant"], r["seed"])),
    }
    tmp = f.with_suffix(".tmp")
    tmp.write_text(json.dumps(body, indent=2))
    tmp.replace(f)


def plan(args: argparse.Namespace) -> list[tuple[int, str, str, int]]:
    """Tasks in the order they matter: per length the fast runs then one published seed, then
    the other published seeds."""
    tasks = []
    seeds = dict(kv.split(":") for kv in args.fast_seeds.split(","))
    for length in args.lengths:
        for seed in range(int(seeds.get(str(length), 2))):
            tasks += [(length, p, v, seed) for p in PAIRS for v in ("lds-fast", "lps-fast")]
        if length in args.published_lengths and args.published_seeds:
            tasks += [(length, p, v, 0) for p in PAIRS for v in ("lds", "lps")]
    for seed in range(1, args.published_seeds):
        for length in args.published_lengths:
            tasks += [(length, p, v, seed) for p in PAIRS for v in ("lds", "lps")]
    return tasks


def table() -> str:
    lines = [
        "| L | pair | variant | per-seed scores | mean | spread (max - min) | s / run |",
        "|---|---|---|---|---|---|---|",
    ]
    for f in sorted(RESULTS.glob("score_variants_L*.json"), key=lambda p: int(p.stem[16:])):
        runs = json.loads(f.read_text())["runs"]
        length = int(f.stem[16:])
        for pair in PAIRS:
            for variant in VARIANTS:
                rs = [r for r in runs if r["pair"] == pair and r["variant"] == variant]
                if not rs:
                    continue
                v = [r["score"] for r in rs]
                per = " ".join(f"{x:.3f}" if "lds" in variant else f"{x:.4f}" for x in v)
                sec = np.mean([r["seconds"] for r in rs])
                lines.append(
                    f"| {length} | {pair} | {variant} | {per} | {np.mean(v):.4f} | "
                    f"{max(v) - min(v):.4f} | {sec:.0f} |"
                )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--lengths", type=int, nargs="+", default=[24, 100, 384])
    ap.add_argument("--published-lengths", type=int, nargs="+", default=[24])
    ap.add_argument("--fast-seeds", default="24:5,100:3,384:3", help="fast seeds per length")
    ap.add_argument("--published-seeds", type=int, default=2)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--table", action="store_true")
    args = ap.parse_args()
    if args.table:
        print(table())
        return
    paths = {}
    for length in sorted(set(args.lengths) | set(args.published_lengths)):
        paths[length] = str(pairs_for(length, TRAIN_SECONDS.get(length, 300)))
        print(f"pairs at L = {length} ready", flush=True)
    runs = {length: load(length) for length in paths}
    done = {(r["length"], r["pair"], r["variant"], r["seed"]) for rs in runs.values() for r in rs}
    todo = [(*t, paths[t[0]]) for t in plan(args) if t not in done]
    print(f"{len(todo)} tasks to run, {len(done)} done", flush=True)
    with mp.get_context("spawn").Pool(args.workers, maxtasksperchild=1) as pool:
        for r in pool.imap_unordered(run_task, todo):
            runs[r["length"]].append(r)
            save(r["length"], runs[r["length"]])
            print(
                f"L={r['length']} {r['pair']:9s} {r['variant']:9s} seed {r['seed']}: "
                f"{r['score']:.4f} ({r['seconds']:.0f} s)",
                flush=True,
            )
    print(table())


if __name__ == "__main__":
    main()
