"""Does the sampler draw windows as spread out as the data? Spread statistics per sampler.

A diffusion model that regresses toward the mean, or a few-step deterministic sampler that
smooths, draws windows whose values vary less inside each window than the real ones do. This
benchmark loads a trained time-series run, draws `--n` windows with each sampler recipe and
compares, feature by feature and then averaged, in the model's scaled units:

- within-window standard deviation (synthetic / real; 1 is right, < 1 is under-dispersed);
- mean absolute step |x[t+1] - x[t]| (synthetic / real; < 1 is too smooth);
- the spread of window means across windows (synthetic / real);
- the 1-D Wasserstein distance of all values, per feature, averaged (0 is right).

    .venv/bin/python benchmarks/dispersion.py \
        --run benchmarks/out/runs/stocks_L24_diffusion-ts_default \
        --samplers dpm++:50,dpm++:50:karras,dpm++:50:karras:1.0,ddpm:1000 --n 2000 --bf16

A recipe is `name:steps[:spacing[:eta]]` (no eta: 0, the ODE, whatever the run's default).
Prints a table and writes JSON (`results/dispersion_<run>.json` unless `--out`).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from tfusion.timeseries.data import prepare
from tfusion.timeseries.sample import TimeSeriesRun

HERE = Path(__file__).resolve().parent


def spread(windows: np.ndarray) -> dict[str, np.ndarray]:
    """Per-feature spread statistics of windows (n, L, C)."""
    return {
        "within_std": windows.std(axis=1).mean(axis=0),
        "abs_step": np.abs(np.diff(windows, axis=1)).mean(axis=(0, 1)),
        "mean_spread": windows.mean(axis=1).std(axis=0),
    }


def wasserstein_1d(a: np.ndarray, b: np.ndarray, points: int = 512) -> float:
    """W1 between two samples of one variable, by matching quantiles."""
    q = (np.arange(points) + 0.5) / points
    return float(np.abs(np.quantile(a, q) - np.quantile(b, q)).mean())


def compare(real: np.ndarray, synthetic: np.ndarray) -> dict[str, float]:
    """Synthetic / real ratios of the spread statistics (feature-averaged) and the mean W1."""
    r, s = spread(real), spread(synthetic)
    out = {f"{k}_ratio": float(np.mean(s[k] / np.maximum(r[k], 1e-12))) for k in r}
    c = real.shape[2]
    out["wasserstein"] = float(
        np.mean([wasserstein_1d(real[..., j].ravel(), synthetic[..., j].ravel()) for j in range(c)])
    )
    return out


def parse_recipe(text: str) -> dict[str, Any]:
    parts = text.split(":")
    if not 2 <= len(parts) <= 4:
        raise SystemExit(f"recipe {text!r}: expected name:steps[:spacing[:eta]]")
    return {
        "sampler": parts[0],
        "steps": int(parts[1]),
        "spacing": parts[2] if len(parts) > 2 and parts[2] else None,
        "eta": float(parts[3]) if len(parts) > 3 and parts[3] else 0.0,  # no eta: the ODE
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--run", required=True)
    ap.add_argument("--samplers", default="dpm++:50:uniform,dpm++:50:karras,ddpm:1000")
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--bf16", action="store_true")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--raw", action="store_true", help="the raw weights instead of the EMA ones")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()

    run = TimeSeriesRun.load(args.run, ema=not args.raw)
    data = prepare(run.cfg.data)
    real = data.train.to_array()
    rng = np.random.default_rng(args.seed)
    if len(real) > args.n:
        real = real[rng.choice(len(real), args.n, replace=False)]
    rows = []
    # two disjoint halves of the real windows: the noise floor of every statistic
    half = len(real) // 2
    rows.append(
        {"recipe": "real vs real (halves)", "seconds": 0.0, **compare(real[:half], real[half:])}
    )
    print(f"{rows[-1]}", flush=True)
    for text in args.samplers.split(","):
        r = parse_recipe(text)
        t0 = time.perf_counter()
        syn = run.generate(
            args.n,
            sampler=r["sampler"],
            steps=r["steps"],
            spacing=r["spacing"],
            eta=r["eta"],
            seed=args.seed,
            scaled=True,
            bf16=args.bf16,
        )
        rows.append({"recipe": text, "seconds": time.perf_counter() - t0, **compare(real, syn)})
        print(f"{rows[-1]}", flush=True)

    keys = ["within_std_ratio", "abs_step_ratio", "mean_spread_ratio", "wasserstein", "seconds"]
    print(f"\nrun {args.run}: {len(real)} real windows, {args.n} synthetic per recipe")
    print("| recipe | " + " | ".join(keys) + " |")
    print("|---" * (len(keys) + 1) + "|")
    for row in rows:
        print(f"| {row['recipe']} | " + " | ".join(f"{row[k]:.3f}" for k in keys) + " |")
    out = (
        Path(args.out) if args.out else HERE / "results" / f"dispersion_{Path(args.run).name}.json"
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "run": str(args.run),
        "n": args.n,
        "bf16": args.bf16,
        "ema": not args.raw,
        "rows": rows,
    }
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps(payload, indent=2))
    tmp.replace(out)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
