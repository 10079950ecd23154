"""Micro-batches (train.accumulate): peak memory and speed of one training step at a fixed batch,
cut into K = 1, 2, 4, 8 micro-batches.

    .venv/bin/python benchmarks/accumulate.py --preset transfusion-paper --length 384 --batch 64
    .venv/bin/python benchmarks/accumulate.py --preset small --length 384 --batch 128

Each K runs in a fresh process (peak resident memory is per process): `fit` on random windows of
6 features, fp32, `--steps` optimiser steps after one untimed step; windows/s from the step
times, peak RSS from the kernel (ru_maxrss). Prints a table and writes
benchmarks/results/accumulate_{preset}_L{length}_b{batch}.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).parents[1]


def one(preset: str, length: int, batch: int, parts: int, steps: int, threads: int) -> dict:
    """Train `steps` + 1 steps with `parts` micro-batches in this process; its numbers."""
    import torch

    from tfusion.config import TrainConfig
    from tfusion.diffusion import Objective, Schedule
    from tfusion.diffusion.loss import diffusion_loss
    from tfusion.timeseries.config import ModelConfig
    from tfusion.timeseries.model import TimeSeriesDenoiser
    from tfusion.timeseries.presets import resolve_model
    from tfusion.training.loop import fit

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = TimeSeriesDenoiser.from_config(resolve_model(ModelConfig(preset=preset)), 6, 0, 0)
    data = torch.rand(1024, length, 6) * 2 - 1
    sched, obj = Schedule.create("cosine", 1000), Objective("v")
    starts: list[float] = []  # the start of each step (its first micro-batch's loss)

    def loss_fn(m, gen, world):
        if world.part == 0:
            starts.append(time.perf_counter())
        idx = world.shard(torch.randint(len(data), (batch,), generator=gen))
        return diffusion_loss(m, data[idx], sched, obj, gen, world)

    cfg = TrainConfig(
        steps=steps + 2,  # one untimed step, then `steps` timed from start to start
        batch_size=batch,
        accumulate=parts,
        bf16=False,
        progress=False,
        checkpoint_every=10_000,
        log_every=10_000,
        warmup=0,
    )
    with tempfile.TemporaryDirectory() as run:
        fit(model, loss_fn, cfg, Path(run), {})
    elapsed = starts[-1] - starts[1]
    return {
        "parts": parts,
        "micro_batch": batch // parts,
        "windows_per_s": steps * batch / elapsed,
        "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--preset", default="transfusion-paper")
    ap.add_argument("--length", type=int, default=384)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--parts", type=int, nargs="+", default=[1, 2, 4, 8])
    ap.add_argument("--steps", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child is not None:
        r = one(args.preset, args.length, args.batch, args.child, args.steps, args.threads)
        print(json.dumps(r))
        return
    rows = []
    for k in args.parts:
        cmd = [sys.executable, __file__, *sys.argv[1:], "--child", str(k)]
        done = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=ROOT)
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
        print(f"K={k}: {rows[-1]}", flush=True)
    base = rows[0]
    print(f"\n{args.preset}, L = {args.length}, batch {args.batch}, fp32, {args.threads} thread(s)")
    print("| K | micro-batch | windows/s | speed vs K=1 | peak RSS GB | memory vs K=1 |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['parts']} | {r['micro_batch']} | {r['windows_per_s']:.2f} | "
            f"{r['windows_per_s'] / base['windows_per_s']:.2f} | {r['peak_rss_gb']:.2f} | "
            f"{r['peak_rss_gb'] / base['peak_rss_gb']:.2f} |"
        )
    out = (
        ROOT
        / "benchmarks"
        / "results"
        / f"accumulate_{args.preset}_L{args.length}_b{args.batch}.json"
    )
    record = {"args": vars(args) | {"child": None}, "cpu": platform.processor(), "rows": rows}
    out.write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
