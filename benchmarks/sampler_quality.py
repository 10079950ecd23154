"""Samplers at equal quality: wall time and LDS / Context-FID of each sampler on one trained run.

The reference recipe samples with DDPM over all 1000 training steps; the question is how few
steps DDIM and DPM-Solver++ need to match its quality, and how much faster that is (a spec
`dpm++:20::logsnr` also picks the step spacing, see Schedule.timesteps):

    .venv/bin/python benchmarks/sampler_quality.py --run benchmarks/out/runs/etth_L384_... \\
        --n 1000 --ddpm-n 300

Every sampler draws `--n` windows (DDPM-1000 may draw fewer, `--ddpm-n`, and its time per 1000
windows is scaled linearly: sampling cost is linear in the number of windows). Each set is scored
against the same `--n` real windows (the run's held-out windows when it has a split, else its
training windows) with LDS and Context-FID, `--repeats` times (mean +- 95% CI). The JSON is
rewritten after every sampler, so a cut-off run keeps what finished. A sampler is "as good as
DDPM-1000" on a score when its mean is at most DDPM's mean plus the two CIs' half-widths.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tfusion.metrics.suite import SuiteConfig, score_suite
from tfusion.timeseries.data import prepare
from tfusion.timeseries.sample import TimeSeriesRun

DEFAULT = "ddpm:1000,ddim:10,ddim:20,ddim:50,dpm++:10,dpm++:20,dpm++:50"


def as_good(ours: dict[str, float], ref: dict[str, float]) -> bool:
    """Mean at most the reference mean plus both 95% half-widths (NaN half-width counts 0)."""
    margin = np.nan_to_num(ours["ci95"]) + np.nan_to_num(ref["ci95"])
    return bool(ours["mean"] <= ref["mean"] + margin)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--run", required=True, help="a trained time-series run folder")
    ap.add_argument("--n", type=int, default=1000, help="windows per sampler")
    ap.add_argument("--ddpm-n", type=int, default=None, help="windows for DDPM (default --n)")
    ap.add_argument(
        "--samplers", default=DEFAULT, help="name:steps[:eta[:spacing]],... (first = reference)"
    )
    ap.add_argument("--metrics", default="lds-fast,context_fid")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument(
        "--lds-iterations",
        type=int,
        default=2000,
        help="LDS classifier steps (published 2000: ~13 min per repeat at L = 384)",
    )
    ap.add_argument("--lds-repeats", type=int, default=None, help="LDS repeats (default --repeats)")
    ap.add_argument("--bf16", action="store_true", help="sample under bf16 autocast")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="benchmarks/results/sampler_quality.json")
    ap.add_argument(
        "--reference",
        default=None,
        help="take the reference row (e.g. DDPM-1000) from this earlier JSON instead of rerunning",
    )
    args = ap.parse_args()

    run = TimeSeriesRun.load(args.run)
    data = prepare(run.cfg.data)
    pool = data.test if data.test is not None and len(data.test) else data.train
    rng = np.random.default_rng(args.seed)
    pick = np.sort(rng.choice(len(pool), size=min(args.n, len(pool)), replace=False))
    real = pool.subset(pick).to_array()
    suite = SuiteConfig(
        metrics=tuple(args.metrics.split(",")),
        repeats=args.repeats,
        long_repeats=args.lds_repeats,
        lds_iterations=args.lds_iterations,
        seed=args.seed,
    )
    encoders: dict = {}  # Context-FID encoders depend on the real windows only: train them once
    result: dict[str, Any] = {
        "run": args.run,
        "window": run.window,
        "real_windows": len(real),
        "bf16": args.bf16,
        "repeats": args.repeats,
        "lds_repeats": suite.repeats_of("lds-fast"),
        "lds_iterations": args.lds_iterations,
        "machine": {"cpus": torch.get_num_threads(), "platform": platform.platform()},
        "torch": torch.__version__,
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "samplers": {},
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    specs = [[*s.split(":"), "", ""][:4] for s in args.samplers.split(",")]
    ref_name = None
    if args.reference:  # the reference row of an earlier run of this script, same settings
        earlier = json.loads(Path(args.reference).read_text())
        same = ("run", "window", "real_windows", "bf16", "repeats", "lds_repeats", "lds_iterations")
        differ = [k for k in same if earlier.get(k) != result.get(k)]
        if differ:
            raise SystemExit(f"--reference {args.reference} differs in {differ}; rerun it")
        ref_name = earlier["reference"]
        result["samplers"][ref_name] = earlier["samplers"][ref_name]
        result["reference_from"] = args.reference
    print(f"{'sampler':>12}{'windows':>9}{'s/1000 win':>12}{'speed-up':>10}  scores")
    for name, steps, eta, spacing in specs:
        key = f"{name}-{steps}" + (f"-eta{eta}" if eta else "") + (f"-{spacing}" if spacing else "")
        n = args.ddpm_n if (name == "ddpm" and args.ddpm_n) else len(real)
        t0 = time.perf_counter()
        syn = run.generate(
            n,
            sampler=name,
            steps=int(steps),
            eta=float(eta) if eta else 0.0,  # no eta in the spec: the ODE, whatever the run says
            spacing=spacing or None,
            seed=args.seed,
            scaled=True,
            bf16=args.bf16,
        )
        secs = time.perf_counter() - t0
        scores = score_suite(real, syn, suite, encoders=encoders)
        row = {
            "windows": n,
            "seconds": secs,
            "s_per_1000_windows": secs / n * 1000,
            "scores": {m: scores[m] for m in suite.metrics if m in scores},
        }
        ref_name = ref_name or key
        ref = result["samplers"].get(ref_name, row)
        row["speedup_vs_reference"] = ref["s_per_1000_windows"] / row["s_per_1000_windows"]
        row["as_good_as_reference"] = {
            m: as_good(row["scores"][m], ref["scores"][m]) for m in row["scores"]
        }
        result["samplers"][key] = row
        result["reference"] = ref_name
        result["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        out.write_text(json.dumps(result, indent=2, default=float))
        shown = "  ".join(
            f"{m} {s['mean']:.4f}±{np.nan_to_num(s['ci95']):.4f}" for m, s in row["scores"].items()
        )
        print(
            f"{key:>12}{n:>9}{row['s_per_1000_windows']:>12.1f}"
            f"{row['speedup_vs_reference']:>9.1f}x  {shown}",
            flush=True,
        )
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
