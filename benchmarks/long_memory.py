"""Peak memory of training on very long windows: the fused attention kernel keeps it linear in L.

Run: .venv/bin/python benchmarks/long_memory.py [--lengths 1024 2048 4096] [--out ...json]

Each (preset, L, path) trains a few real steps of `tfusion train` (AdamW, EMA, checkpoint) on a
generated 6-feature series in a fresh process and reports that process's peak RSS and seconds
per step. The fast path (`modern` blocks, SDPA, bf16 autocast) never materialises an L x L
attention matrix; the paper path (post-LN `nn.TransformerEncoderLayer` with attention dropout)
falls back to the math kernel, which stores L x L per head and layer for the backward pass; its
attention-matrix memory is given by formula instead of being run at L >= 2048 (it would need
tens of GiB).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

CHILD = r"""
import json, resource, sys, time
from tfusion.timeseries.config import RunConfig
from tfusion.config import apply_overrides
from tfusion.timeseries.train import train_timeseries
args = json.loads(sys.argv[1])
cfg = apply_overrides(RunConfig(), args["overrides"])
t0 = time.perf_counter()
r = train_timeseries(cfg, args["run"])
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB -> MiB
print(json.dumps({"peak_rss_mib": peak, "seconds": r.seconds, "steps": r.steps}))
"""


def run_one(series: Path, root: Path, preset: str, length: int, batch: int, fast: bool, steps: int):
    over = [
        f"data.source={series}",
        f"data.window={length}",
        "data.split=none",
        f"model.preset={preset}",
        f"train.steps={steps}",
        f"train.batch_size={batch}",
        "train.progress=false",
        f"train.checkpoint_every={steps}",
        "train.warmup=1",
    ]
    if fast:
        over += ["model.arch=modern", "train.bf16=true"]
    else:
        over += ["model.arch=paper", "model.dropout=0.1"]  # the published recipe
    run = root / f"{preset}_{length}_{'fast' if fast else 'paper'}"
    arg = json.dumps({"overrides": over, "run": str(run)})
    done = subprocess.run(
        [sys.executable, "-c", CHILD, arg], capture_output=True, text=True, timeout=3600
    )
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-1][:300]}
    out = json.loads(done.stdout.strip().splitlines()[-1])
    out["seconds_per_step"] = out["seconds"] / out["steps"]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--lengths", type=int, nargs="+", default=[1024, 2048, 4096])
    ap.add_argument("--preset", default="small")
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--paper-up-to", type=int, default=1024, help="run the paper path up to this L")
    ap.add_argument("--out", default="benchmarks/results/long_memory.json")
    a = ap.parse_args()
    from tfusion.timeseries.presets import TIMESERIES_PRESETS

    heads = TIMESERIES_PRESETS[a.preset]["heads"]
    depth = TIMESERIES_PRESETS[a.preset]["depth"]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        series = root / "series.npy"
        rng = np.random.default_rng(0)
        np.save(series, np.cumsum(rng.standard_normal((max(a.lengths) * 3, 6)), axis=0))
        for length in a.lengths:
            for fast in (True, False):
                # attention weights the math kernel keeps for backward: B x heads x L^2 fp32,
                # plus the dropout mask, per layer
                math_mib = a.batch * heads * length**2 * 4 * 2 * depth / 2**20
                row = {
                    "preset": a.preset,
                    "L": length,
                    "batch": a.batch,
                    "path": "fast (SDPA, bf16)" if fast else "paper (math attention, fp32)",
                    "math_attention_mib": None if fast else math_mib,
                }
                if fast or length <= a.paper_up_to:
                    row.update(run_one(series, root, a.preset, length, a.batch, fast, a.steps))
                rows.append(row)
                print(json.dumps(row), flush=True)
    print(f"\n{'path':<30}{'L':>6}{'peak RSS MiB':>14}{'s/step':>9}{'L x L attn MiB':>16}")
    for r in rows:
        peak = f"{r['peak_rss_mib']:.0f}" if "peak_rss_mib" in r else r.get("error", "not run")[:12]
        sps = f"{r['seconds_per_step']:.2f}" if "seconds_per_step" in r else "-"
        attn = f"{r['math_attention_mib']:.0f}" if r["math_attention_mib"] else "0"
        print(f"{r['path']:<30}{r['L']:>6}{peak:>14}{sps:>9}{attn:>16}")
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(rows, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
