"""Big-data memory benchmark: train on a 100 M-value .npy series, memory-mapped vs loaded.

Run: .venv/bin/python benchmarks/bigdata.py [--rows 10000000] [--features 10] [--steps 200]

Writes a float32 series (rows x features, 400 MB at the defaults) to a temporary folder, then
trains the `tiny` model for a few hundred steps twice, each in its own process: with
`data.mmap=true` (windows are views of the memory map, scaled per batch) and with the ordinary
in-memory load. Prints wall time, peak RSS and peak anonymous memory (RSS minus pages of mapped
files, which the kernel can drop and re-read at any time) of each.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

CHILD = """
import resource, sys, time
from tfusion.cli.main import main
t0 = time.perf_counter()
code = main(sys.argv[1:])
for line in open("/proc/self/status"):
    if line.startswith(("RssAnon", "VmHWM")):
        print(line.strip())
print("SECONDS", time.perf_counter() - t0)
print("MAXRSS_KB", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
sys.exit(code)
"""


def write_series(path: Path, rows: int, features: int, chunk: int = 1 << 20) -> None:
    """A random-walk series written in chunks (never whole in memory)."""
    rng = np.random.default_rng(0)
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(rows, features))
    level = np.zeros(features)
    for i in range(0, rows, chunk):
        steps = rng.normal(size=(min(chunk, rows - i), features))
        block = level + np.cumsum(steps, axis=0)
        out[i : i + len(block)] = block
        level = block[-1]
    out.flush()
    del out


def train(path: Path, run: Path, mmap: bool, steps: int) -> dict:
    args = [
        "train",
        "--out",
        str(run),
        f"data.source={path}",
        f"data.mmap={str(mmap).lower()}",
        "data.window=96",
        "data.split=time",
        "model.preset=tiny",
        f"train.steps={steps}",
        "train.batch_size=32",
        "train.progress=false",
        f"train.checkpoint_every={steps}",
    ]
    done = subprocess.run([sys.executable, "-c", CHILD, *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(done.stderr[-2000:])
    info: dict = {"mmap": mmap}
    for line in done.stdout.splitlines():
        key, _, value = line.partition(":") if ":" in line else line.partition(" ")
        value = value.strip().split()[0] if value.strip() else ""
        if key in ("RssAnon", "VmHWM"):
            info[key + "_MiB"] = int(value) / 1024
        elif key == "SECONDS":
            info["seconds"] = float(value)
        elif key == "MAXRSS_KB":
            info["peak_rss_MiB"] = int(value) / 1024
    return info


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--features", type=int, default=10)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--out", default="benchmarks/out/bigdata.json")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "series.npy"
        t0 = time.perf_counter()
        write_series(path, args.rows, args.features)
        size = path.stat().st_size / 2**20
        print(
            f"series {args.rows} x {args.features} float32: {size:.0f} MiB written in "
            f"{time.perf_counter() - t0:.0f} s"
        )
        rows = [train(path, Path(tmp) / f"run{m}", m, args.steps) for m in (True, False)]
    print(f"{'path':<10}{'seconds':>9}{'peak RSS MiB':>14}{'anon MiB (end)':>16}")
    for r in rows:
        name = "mmap" if r["mmap"] else "in-memory"
        print(
            f"{name:<10}{r['seconds']:>9.0f}{r['peak_rss_MiB']:>14.0f}"
            f"{r.get('RssAnon_MiB', 0):>16.0f}"
        )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps({"file_MiB": size, "values": args.rows * args.features, "runs": rows}, indent=2)
    )
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
