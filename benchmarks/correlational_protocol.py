"""The correlational score under Diffusion-TS's protocol against the whole-set score.

Diffusion-TS (Experiments/metric_pytorch.ipynb) scores 5 draws of n_real / 5 windows taken with
replacement from each set and reports their mean; tfusion's suite scored the two sets whole until
session 37. The draws' sampling noise is a floor every generator pays, a perfect one too, so the
whole-set numbers in RESULTS.md read lower than a published number of the same quality would.

    .venv/bin/python benchmarks/correlational_protocol.py --runs /path/to/benchmarks/out/runs

Part 1, the floor at L = 24 (Diffusion-TS protocol: every stride-1 training window): the real
set against itself, and for Sines against a second, independent draw of the same process (a
perfect generator). Part 2, kept runs of the TransFusion protocol (held-out windows against a
run's `synthetic.npy`; the real-data floor is as many training windows): both scores. The score
is invariant to per-feature scaling, so the units of the kept windows do not matter. Writes
results/correlational_protocol.json.
"""

from __future__ import annotations

import argparse
import json
import re
import time
from pathlib import Path
from typing import Any

import numpy as np

from quality_timeseries import DATA, DATASETS
from tfusion.data import sine_windows
from tfusion.metrics.correlation import correlational_draws, correlational_score
from tfusion.metrics.stats import format_ci, mean_ci
from tfusion.timeseries.config import DataConfig
from tfusion.timeseries.data import prepare

OUT = Path(__file__).resolve().parent / "results" / "correlational_protocol.json"


def data_config(name: str, length: int, transfusion: bool) -> DataConfig:
    data = dict(DATASETS[name])
    if data["source"] != "sine":
        data["source"] = str(DATA / data["source"])
    split = "random" if transfusion else "none"
    return DataConfig(**data, window=length, stride=1, split=split, reverse=transfusion, seed=2021)


def both(real: np.ndarray, synthetic: np.ndarray) -> dict[str, Any]:
    return {
        "whole_sets": correlational_score(real, synthetic),
        "protocol": mean_ci(correlational_draws(real, synthetic, seed=0)),
    }


def floors_l24(names: list[str]) -> dict[str, Any]:
    out = {}
    for name in names:
        real = prepare(data_config(name, 24, False)).train.to_array()
        row = {"windows": len(real), "real_vs_itself": both(real, real)}
        if name == "sines":  # the true process, drawn again: a perfect generator
            cfg = DATASETS["sines"]
            again = sine_windows(len(real), 24, cfg["sine_features"], seed=12345)
            row["real_vs_new_draw"] = both(real, (again + 1) / 2)
        out[name] = row
        print(name, {k: v for k, v in row.items() if k != "windows"}, flush=True)
    return out


def kept_runs(runs: Path) -> dict[str, Any]:
    out: dict[str, Any] = {}
    prepared: dict[tuple[str, int], Any] = {}
    for run in sorted(runs.glob("*_L*_transfusion_*")):
        m = re.match(r"([a-z]+)_L(\d+)_transfusion_(.+)", run.name)
        if m is None or not (run / "synthetic.npy").exists():
            continue
        name, length = m.group(1), int(m.group(2))
        if (name, length) not in prepared:
            data = prepare(data_config(name, length, True))
            prepared[name, length] = (data.test.to_array(), data.train.to_array())
        real, train = prepared[name, length]
        synthetic = np.load(run / "synthetic.npy", allow_pickle=False)
        floor_key = f"{name}_L{length}_floor"
        if floor_key not in out:
            pick = np.random.default_rng(0).choice(len(train), min(len(synthetic), len(train)))
            out[floor_key] = both(real, train[np.sort(pick)])
        out[run.name] = both(real, synthetic)
        print(run.name, out[run.name], flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--runs", type=Path, help="a benchmarks/out/runs folder with kept runs")
    ap.add_argument("--floors", nargs="*", default=["sines", "stocks", "etth", "fmri"])
    args = ap.parse_args()
    t0 = time.perf_counter()
    result = {"l24_floors": floors_l24(args.floors)}
    if args.runs is not None:
        result["transfusion_protocol_runs"] = kept_runs(args.runs)
    result["seconds"] = time.perf_counter() - t0
    result["date"] = time.strftime("%Y-%m-%d")
    OUT.write_text(json.dumps(result, indent=2))
    print("\n| set | whole sets | Diffusion-TS protocol (5 draws of n / 5) |\n|---|---|---|")
    rows = {**result["l24_floors"], **result.get("transfusion_protocol_runs", {})}
    for key, row in rows.items():
        for what, v in row.items():
            if isinstance(v, dict) and "whole_sets" in v:
                print(f"| {key} {what} | {v['whole_sets']:.4f} | {format_ci(v['protocol'])} |")
        if "whole_sets" in row:
            print(f"| {key} | {row['whole_sets']:.4f} | {format_ci(row['protocol'])} |")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
