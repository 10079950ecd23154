"""Panel scale benchmark: a long-format table of E entities x 500 steps x 20 channels.

Run: .venv/bin/python benchmarks/panel_scale.py [--entities 1000 3000 10000] [--steps 30]

For each E, writes a Parquet table (entity id, time, one static attribute, 20 float channels;
lengths 400-500 so the sequences are ragged) to a temporary folder, then in a fresh process trains
the `tiny` model for a few steps on whole sequences (`data.whole=true`, with the attribute) and
reports wall time and peak RSS. The data itself is E x 500 x 20 float64 values (80 MB per
1000 entities); the question is whether peak memory grows faster than that.
Writes benchmarks/results/panel_scale.json after each E (incrementally).
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
import pandas as pd

CHILD = """
import resource, sys, time
from tfusion.cli.main import main
t0 = time.perf_counter()
code = main(sys.argv[1:])
print("SECONDS", time.perf_counter() - t0)
print("MAXRSS_KB", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
sys.exit(code)
"""
BASELINE = """
import resource, torch, tfusion.timeseries.train
print("MAXRSS_KB", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def write_panel(path: Path, entities: int, channels: int = 20, seed: int = 0) -> int:
    """A ragged long-format table (400-500 steps per entity), written in row groups; returns
    the number of rows."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    writer = None
    rows = 0
    for start in range(0, entities, 500):
        ids, times, groups, values = [], [], [], []
        for e in range(start, min(start + 500, entities)):
            n = int(rng.integers(400, 501))
            ids.append(np.full(n, f"e{e:05d}"))
            times.append(np.arange(n))
            groups.append(np.full(n, "abc"[e % 3]))
            walk = np.cumsum(rng.normal(size=(n, channels)), axis=0) * (1 + e % 3)
            values.append(walk)
        v = np.concatenate(values)
        frame = pd.DataFrame(v, columns=[f"c{j}" for j in range(channels)])
        frame.insert(0, "group", np.concatenate(groups))
        frame.insert(0, "t", np.concatenate(times))
        frame.insert(0, "id", np.concatenate(ids))
        table = pa.Table.from_pandas(frame, preserve_index=False)
        writer = writer or pq.ParquetWriter(path, table.schema)
        writer.write_table(table)
        rows += len(frame)
    assert writer is not None
    writer.close()
    return rows


def run(entities: int, steps: int, folder: Path) -> dict:
    data = folder / f"panel_{entities}.parquet"
    t0 = time.perf_counter()
    rows = write_panel(data, entities)
    write_s = time.perf_counter() - t0
    args = [
        "train",
        "--out",
        str(folder / f"run_{entities}"),
        f"data.source={data}",
        "data.entity=id",
        "data.time=t",
        "data.static=[group]",
        "data.whole=true",
        "model.preset=tiny",
        f"train.steps={steps}",
        "train.batch_size=16",
        "train.progress=false",
    ]
    out = subprocess.run(
        [sys.executable, "-c", CHILD, *args], capture_output=True, text=True, check=True
    )
    stats = dict(line.split(" ", 1) for line in out.stdout.splitlines() if line[:1].isupper())
    data_mb = rows * 20 * 8 / 2**20
    peak_mb = int(stats["MAXRSS_KB"]) / 1024
    return {
        "entities": entities,
        "rows": rows,
        "data_mb_float64": round(data_mb, 1),
        "file_mb": round(data.stat().st_size / 2**20, 1),
        "write_s": round(write_s, 1),
        "train_s": round(float(stats["SECONDS"]), 1),
        "peak_rss_mb": round(peak_mb, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--entities", type=int, nargs="+", default=[1000, 3000, 10000])
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--out", default="benchmarks/results/panel_scale.json")
    a = ap.parse_args()
    base = subprocess.run(
        [sys.executable, "-c", BASELINE], capture_output=True, text=True, check=True
    ).stdout
    base_mb = int(base.split()[-1]) / 1024
    results = {"baseline_rss_mb": round(base_mb, 1), "runs": []}
    print(f"process with torch + tfusion imported: {base_mb:.0f} MB")
    print(
        f"{'entities':>9} {'rows':>10} {'data MB':>8} {'peak MB':>8} "
        f"{'(peak-base)/data':>17} {'train s':>8}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for e in a.entities:
            r = run(e, a.steps, Path(tmp))
            r["overhead_ratio"] = round((r["peak_rss_mb"] - base_mb) / r["data_mb_float64"], 2)
            results["runs"].append(r)
            print(
                f"{e:>9} {r['rows']:>10} {r['data_mb_float64']:>8.0f} {r['peak_rss_mb']:>8.0f} "
                f"{r['overhead_ratio']:>17.2f} {r['train_s']:>8.1f}"
            )
            Path(a.out).write_text(json.dumps(results, indent=2))
            (Path(tmp) / f"panel_{e}.parquet").unlink()


if __name__ == "__main__":
    main()
