"""Wall time of each evaluation score on N real + N synthetic windows of L x C (K = 1).

Run: .venv/bin/python benchmarks/suite_speed.py [--n 1000] [--length 384] [--out FILE]

Real windows are stride-1 windows of ETTh1 (../shared/data, 6 load features) when present, else
sines; "synthetic" is the real set with 5% noise, so every score has work to do. The JSON is
rewritten after each metric, so a cut-off run still leaves what finished.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from tfusion.data import load_table, make_windows, sine_windows
from tfusion.metrics.suite import ALL_METRICS, SuiteConfig, score_suite

ETTH = Path(__file__).resolve().parents[2] / "shared" / "data" / "ETTh1.csv"


def real_windows(n: int, length: int, seed: int = 0) -> np.ndarray:
    """n windows (n, L, 6) from ETTh1 if available, else sines."""
    if ETTH.exists():
        table = load_table(ETTH)
        w = make_windows(table.values[:, :6].astype(np.float32), length, 1)
        idx = np.random.default_rng(seed).choice(len(w), n, replace=len(w) < n)
        return w.batch(np.sort(idx)).astype(np.float64)
    return sine_windows(n, length, 6, seed)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--length", type=int, default=384)
    ap.add_argument("--metrics", default=",".join(ALL_METRICS))
    ap.add_argument("--out", default="benchmarks/out/suite_speed.json")
    args = ap.parse_args()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    real = real_windows(args.n, args.length, 0)
    other = real_windows(args.n, args.length, 1)
    rng = np.random.default_rng(2)
    synthetic = other + 0.05 * other.std(axis=(0, 1)) * rng.standard_normal(other.shape)
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
