"""Imputation and forecasting on ETTh with one unconditional model, against simple baselines.

Run: .venv/bin/python benchmarks/conditional_timeseries.py [--steps 4000] [--windows 100]

Trains a `small` model on the first 80% of ETTh1 (time split, windows of 48), then on
non-overlapping windows of the last 20% (never seen in training):

- imputation: 50 / 70 / 90% of the values removed at random; MSE on the removed values in the
  model's scale ([-1, 1] per feature) for tfusion (replacement + RePaint resampling, DDPM; and
  plain replacement with DPM-Solver++ as the ablation) vs linear interpolation in time;
- forecasting: the last 24 steps of each window from its first 24; MSE vs the seasonal-naive
  forecast (the previous day, period 24) and the last value.

Writes JSON after each part.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from tfusion.config import TrainConfig
from tfusion.timeseries.conditional import impute_windows
from tfusion.timeseries.config import DataConfig, ModelConfig, RunConfig, SampleConfig
from tfusion.timeseries.data import prepare
from tfusion.timeseries.sample import TimeSeriesRun
from tfusion.timeseries.train import train_timeseries

ETTH = Path(__file__).resolve().parents[2] / "shared" / "data" / "ETTh1.csv"


def linear_fill(w: np.ndarray) -> np.ndarray:
    """Linear interpolation in time per feature; nearest value beyond the ends."""
    out = w.copy()
    t = np.arange(w.shape[0])
    for c in range(w.shape[1]):
        gap = np.isnan(w[:, c])
        if gap.all():
            out[:, c] = 0.0  # nothing known: the scaled series' middle
        elif gap.any():
            out[gap, c] = np.interp(t[gap], t[~gap], w[~gap, c])
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--steps", type=int, default=4000)
    ap.add_argument("--windows", type=int, default=100)
    ap.add_argument(
        "--samples",
        type=int,
        default=10,
        help="draws averaged per window (the posterior mean)",
    )
    ap.add_argument("--run", default="benchmarks/out/runs/etth_cond_L48")
    ap.add_argument("--out", default="benchmarks/results/conditional_etth.json")
    args = ap.parse_args()
    cfg = RunConfig(
        data=DataConfig(source=str(ETTH), window=48, split="time", test_fraction=0.2),
        model=ModelConfig(preset="small"),
        train=TrainConfig(steps=args.steps, batch_size=64, lr=1e-3, warmup=200, progress=False),
        sample=SampleConfig(steps=20),
    )
    run_dir = Path(args.run)
    result: dict = {
        "data": "ETTh1",
        "window": 48,
        "train_steps": args.steps,
        "samples": args.samples,
        "windows": args.windows,
        "repaint": "DDPM 50 steps x 4 resamples",
        "replacement": f"DPM-Solver++ 20 steps, eta {cfg.sample.eta}",
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if not (run_dir / "ema.safetensors").exists():
        fit = train_timeseries(cfg, run_dir)
        result["train_seconds"] = fit.seconds
    run = TimeSeriesRun.load(run_dir)
    data = prepare(cfg.data)
    test = data.test
    starts = np.arange(0, len(test), 48)[: args.windows]  # non-overlapping held-out windows
    truth = test.batch(starts).astype(np.float64)  # scaled [-1, 1]
    truth_units = data.inverse(truth)
    rng = np.random.default_rng(0)

    def scaled(x_units: np.ndarray) -> np.ndarray:
        return run.scaler.transform(x_units)

    result["imputation"] = []
    print(f"{'missing':>8}{'tfusion RePaint':>17}{'replacement':>13}{'linear':>9}{'seconds':>9}")
    for rate in (0.5, 0.7, 0.9):
        holes = rng.random(truth.shape) < rate
        given = np.where(holes, np.nan, truth_units)
        t0 = time.perf_counter()
        repaint = scaled(impute_windows(run, given, samples=args.samples, steps=50, resample=4))
        seconds = time.perf_counter() - t0
        plain = scaled(
            impute_windows(run, given, samples=args.samples, sampler="dpm++", steps=20, resample=1)
        )
        linear = np.stack([linear_fill(w) for w in np.where(holes, np.nan, truth)])
        row = {
            "missing": rate,
            "mse_repaint": float(((repaint - truth)[holes] ** 2).mean()),
            "mse_replacement": float(((plain - truth)[holes] ** 2).mean()),
            "mse_linear": float(((linear - truth)[holes] ** 2).mean()),
            "seconds_repaint": seconds,
        }
        result["imputation"].append(row)
        print(
            f"{rate:>8.0%}{row['mse_repaint']:>17.4f}{row['mse_replacement']:>13.4f}"
            f"{row['mse_linear']:>9.4f}{seconds:>9.0f}",
            flush=True,
        )
        out.write_text(json.dumps(result, indent=2))

    holes = np.zeros(truth.shape, dtype=bool)
    holes[:, 24:] = True
    given = np.where(holes, np.nan, truth_units)
    t0 = time.perf_counter()
    fc = scaled(impute_windows(run, given, samples=args.samples, steps=50, resample=4))
    seconds = time.perf_counter() - t0
    seasonal = truth[:, :24]  # the previous day (period 24)
    last = np.repeat(truth[:, 23:24], 24, axis=1)
    result["forecast"] = {
        "horizon": 24,
        "history": 24,
        "mse_tfusion": float(((fc[:, 24:] - truth[:, 24:]) ** 2).mean()),
        "mse_seasonal_naive": float(((seasonal - truth[:, 24:]) ** 2).mean()),
        "mse_last_value": float(((last - truth[:, 24:]) ** 2).mean()),
        "seconds": seconds,
    }
    f = result["forecast"]
    print(
        f"forecast H=24: tfusion {f['mse_tfusion']:.4f}, seasonal naive "
        f"{f['mse_seasonal_naive']:.4f}, last value {f['mse_last_value']:.4f} ({seconds:.0f} s)"
    )
    out.write_text(json.dumps(result, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
