"""Wall time of each evaluation score on N real + N synthetic windows of L x C (K = 1).

Run: .venv/bin/python benchmarks/suite_speed.py [--n 1000] [--length 384] [--out FILE]
     .venv/bin/python benchmarks/suite_speed.py --suite [--workers N] [--out FILE]
     .venv/bin/python benchmarks/suite_speed.py --scaling [--out FILE]

The first form times each score alone, one after another (one process); `--suite` times the
default suite (every score once, the fast LDS / LPS) as `tfusion evaluate` runs it: one call,
the probes in worker processes (`--workers`, default one per core), and prints each score's
seconds inside its worker and the wall-clock total.

The second form estimates how the full suite's time grows with L and N without running it in full:
every score's time is linear in its training iterations (t = fixed + per_step * iterations), so
each score runs at two small budgets and the line through them predicts the published budget.

Real windows are stride-1 windows of ETTh1 (../shared/data, 6 load features) when present, else
sines; "synthetic" is the real set with 5% noise, so every score has work to do. The JSON is
rewritten after each metric, so a cut-off run still leaves what finished.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from tfusion.data import load_table, make_windows, sine_windows
from tfusion.metrics.suite import ALL_METRICS, DEFAULT_METRICS, SuiteConfig, score_suite

ETTH = Path(__file__).resolve().parents[2] / "shared" / "data" / "ETTh1.csv"


def real_windows(n: int, length: int, seed: int = 0) -> np.ndarray:
    """n windows (n, L, 6) from ETTh1 if available, else sines."""
    if ETTH.exists():
        table = load_table(ETTH)
        w = make_windows(table.values[:, :6].astype(np.float32), length, 1)
        idx = np.random.default_rng(seed).choice(len(w), n, replace=len(w) < n)
        return w.batch(np.sort(idx)).astype(np.float64)
    return sine_windows(n, length, 6, seed)


def timed(real: np.ndarray, synthetic: np.ndarray, name: str, cfg: SuiteConfig) -> float:
    t0 = time.perf_counter()
    score_suite(real, synthetic, replace(cfg, metrics=(name,)), real)
    return time.perf_counter() - t0


def scaling(out: Path, lengths: list[int], ns: list[int], metrics: list[str]) -> None:
    """Predicted full-budget seconds per score for every (L, N), from two small budgets."""
    full = SuiteConfig(repeats=1)
    budget = {
        "lds": full.lds_iterations,
        "lps": full.lps_iterations,
        "lds-fast": full.lds_iterations,
        "lps-fast": full.lps_iterations,
        "discriminative": full.discriminative_iterations,
        "predictive": full.predictive_iterations,
        "context_fid": 200,  # the TS2Vec encoder's default
        "prdc": 200,
    }
    rows = []
    print(f"{'L':>5}{'N':>6}  {'metric':<16}{'fixed s':>9}{'ms/step':>9}{'full s':>9}")
    for length in lengths:
        for n in ns:
            real = real_windows(n, length, 0)
            synthetic = real_windows(n, length, 1) + 0.01
            total = 0.0
            for name in metrics:
                its = budget.get(name)
                if its is None:  # no training loop: time it once
                    fixed, per_step, predicted = timed(real, synthetic, name, full), 0.0, None
                    predicted = fixed
                else:
                    small, big = max(4, its // 200), max(10, its // 80)
                    timed(real, synthetic, name, _budget(full, name, small))  # warm-up
                    t_small = timed(real, synthetic, name, _budget(full, name, small))
                    t_big = timed(real, synthetic, name, _budget(full, name, big))
                    per_step = max(0.0, (t_big - t_small) / (big - small))
                    fixed = max(0.0, t_small - per_step * small)
                    predicted = fixed + per_step * its
                total += predicted
                rows.append(
                    {
                        "L": length,
                        "N": n,
                        "metric": name,
                        "fixed_s": fixed,
                        "step_ms": 1000 * per_step,
                        "predicted_full_s": predicted,
                    }
                )
                print(
                    f"{length:>5}{n:>6}  {name:<16}{fixed:>9.1f}{1000 * per_step:>9.1f}"
                    f"{predicted:>9.0f}",
                    flush=True,
                )
                out.write_text(json.dumps({"rows": rows}, indent=2))
            rows.append({"L": length, "N": n, "metric": "total", "predicted_full_s": total})
            print(f"{length:>5}{n:>6}  {'TOTAL':<16}{'':>18}{total:>9.0f}", flush=True)
            out.write_text(json.dumps({"rows": rows}, indent=2))


def whole_suite(
    real: np.ndarray, synthetic: np.ndarray, args: argparse.Namespace, out: Path
) -> None:
    """The default suite (K = 1) in one score_suite call, as `tfusion evaluate` runs it."""
    metrics = tuple(args.metrics.split(",")) if args.metrics != ",".join(ALL_METRICS) else None
    cfg = SuiteConfig(metrics=metrics or DEFAULT_METRICS, repeats=1, workers=args.workers)
    scores = score_suite(real, synthetic, cfg, real)
    result = {
        "n": args.n,
        "L": args.length,
        "C": real.shape[2],
        "workers": scores["workers"],
        "wall_seconds": scores["wall_seconds"],
        "seconds_in_workers": scores["seconds"],
        "scores": {
            k: (v["mean"] if isinstance(v, dict) and "mean" in v else v)
            for k, v in scores.items()
            if k in cfg.metrics
        },
    }
    print(f"{'metric':<16}{'seconds':>10}  score")
    for name, sec in sorted(scores["seconds"].items(), key=lambda kv: -kv[1]):
        print(f"{name:<16}{sec:>10.1f}  {result['scores'].get(name)}")
    print(f"{'wall clock':<16}{scores['wall_seconds']:>10.1f}  ({scores['workers']} workers)")
    out.write_text(json.dumps(result, indent=2, default=str))


def _budget(cfg: SuiteConfig, name: str, iterations: int) -> SuiteConfig:
    key = {"context_fid": "fid_iterations", "prdc": "fid_iterations"}.get(
        name, f"{name.removesuffix('-fast')}_iterations"
    )
    return replace(cfg, **{key: iterations})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--length", type=int, default=384)
    ap.add_argument("--metrics", default=",".join(ALL_METRICS))
    ap.add_argument("--out", default="benchmarks/out/suite_speed.json")
    ap.add_argument("--scaling", action="store_true", help="predicted time per (L, N)")
    ap.add_argument("--suite", action="store_true", help="the default suite in one call")
    ap.add_argument("--workers", type=int, default=None, help="--suite: worker processes")
    ap.add_argument("--lengths", default="24,96,384,1024")
    ap.add_argument("--ns", default="1000,4000")
    args = ap.parse_args()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if args.scaling:
        lengths = [int(v) for v in args.lengths.split(",")]
        ns = [int(v) for v in args.ns.split(",")]
        metrics = [m for m in args.metrics.split(",") if m != "memorisation"]
        scaling(out, lengths, ns, metrics)
        return
    real = real_windows(args.n, args.length, 0)
    other = real_windows(args.n, args.length, 1)
    rng = np.random.default_rng(2)
    synthetic = other + 0.05 * other.std(axis=(0, 1)) * rng.standard_normal(other.shape)
    if args.suite:
        whole_suite(real, synthetic, args, out)
        return
    result = {"n": args.n, "L": args.length, "C": real.shape[2], "metrics": {}}
    print(f"{'metric':<16}{'seconds':>10}  score")
    total = 0.0
    for name in args.metrics.split(","):
        t0 = time.perf_counter()
        scores = score_suite(real, synthetic, SuiteConfig(metrics=(name,), repeats=1), real)
        dt = time.perf_counter() - t0
        total += dt
        value = scores.get(name, {})
        shown = value.get("mean", value) if isinstance(value, dict) else value
        result["metrics"][name] = {"seconds": dt, "score": shown}
        result["total_seconds"] = total
        out.write_text(json.dumps(result, indent=2, default=str))
        print(f"{name:<16}{dt:>10.1f}  {shown}", flush=True)
    print(f"total {total:.0f} s; wrote {out}")


if __name__ == "__main__":
    main()
