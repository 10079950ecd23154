"""tfusion against the panel generators people use today, same data, same training budget.

Run: .venv/bin/python benchmarks/panel_peers.py [--budget 120] [--sets basicmotions ...]
     [--peers-python .venv-peers/bin/python]  (make peers builds it)

Peers: SDV's PARSynthesizer (deepecho PAR) and gretel-synthetics' DGAN (DoppelGANger), run by
`benchmarks/peers.py` in their own virtual environment (the `peers` venv: sdv, and
gretel-synthetics installed with --no-deps; both beside torch==2.13.0, see RESULTS.md), never in
tfusion's. synthcity installs but does not import here (it needs torchvision, whose only build
for torch 2.13.0 on this machine is a CUDA one).

Data (all real, shipped in the sktime wheel, read by tfusion's .ts reader):
- basicmotions: 40 + 40 recordings x 6 channels x 100 steps, attribute `class` (4 activities);
- japanesevowels: 270 + 370 utterances x 12 channels, 7-29 steps (variable lengths),
  attribute `class` (9 speakers);
- basicmotions-state: basicmotions plus a categorical channel `motion` (low / mid / high: the
  tercile of the accelerometer magnitude, thresholds from the training set).
Each generator trains on the TRAIN split for the same wall-clock budget, draws as many entities
as the TEST split holds, and every output is scored against TEST by the same function,
beside the reference `train` (the real TRAIN entities scored against TEST: the floor a
generator of the training distribution can reach, train/test shift included),
`tfusion.timeseries.panel_report.score_tables`. Results: benchmarks/results/panel_peers_<set>.json
(written per data set as it finishes).
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

from tfusion.data.tables import load_table
from tfusion.data.ts_format import sktime_file
from tfusion.precision import cpu_model
from tfusion.timeseries.panel_report import score_tables
from tfusion.timeseries.synthesizer import TimeSeriesSynthesizer

HERE = Path(__file__).resolve().parent
PEER = """
import json, sys, time
sys.path.insert(0, {here!r})
import pandas as pd
import peers
df = pd.read_parquet({data!r})
fn = peers.fit_sample_{kind}
syn, info = fn(df, "case", "step", {static!r}, {categorical!r}, {n}, budget_s={budget}, seed=0)
syn.to_parquet({out!r})
print("INFO", json.dumps(info, default=float))
"""


def long_table(name: str, split: str) -> pd.DataFrame:
    """A .ts data set as a long DataFrame (case, step, class, dim_0 ...)."""
    from tfusion.data.ts_format import read_ts

    raw = read_ts(sktime_file(name, split))
    frame = pd.DataFrame(dict(zip(raw.names, raw.cells)))
    frame["case"] = frame["case"].astype(np.int64)
    frame["step"] = frame["step"].astype(np.int64)
    frame["class"] = frame["class"].astype(str)
    return frame


def data_set(name: str) -> tuple[pd.DataFrame, pd.DataFrame, list[str], list[str]]:
    """(train, test, static, categorical) of a benchmark set."""
    if name == "basicmotions":
        return (
            long_table("BasicMotions", "train"),
            long_table("BasicMotions", "test"),
            ["class"],
            ["class"],
        )
    if name == "japanesevowels":
        return (
            long_table("JapaneseVowels", "train"),
            long_table("JapaneseVowels", "test"),
            ["class"],
            ["class"],
        )
    if name == "basicmotions-state":
        train, test = long_table("BasicMotions", "train"), long_table("BasicMotions", "test")
        mag = lambda f: np.sqrt((f[["dim_0", "dim_1", "dim_2"]] ** 2).sum(axis=1))  # noqa: E731
        cuts = np.quantile(mag(train), [1 / 3, 2 / 3])
        for f in (train, test):
            f["motion"] = np.asarray(["low", "mid", "high"], dtype=object)[
                np.searchsorted(cuts, mag(f))
            ]
        return train, test, ["class"], ["class", "motion"]
    raise SystemExit(f"unknown data set {name}")


def run_tfusion(
    train: pd.DataFrame, static, categorical, n: int, budget: float, folder: Path, bf16: bool
):
    """TimeSeriesSynthesizer (`small`, whole sequences) for `budget` seconds of training
    (train.max_seconds: the cosine decay runs out with the budget)."""
    steps = 1_000_000
    synth = TimeSeriesSynthesizer(
        preset="small",
        steps=steps,
        batch_size=32,
        run=folder / "tfusion",
        overrides=[f"train.max_seconds={budget}", f"train.bf16={str(bf16).lower()}"],
    )
    t0 = time.perf_counter()
    synth.fit(train, entity="case", time="step", static=static, categorical=categorical)
    fit_s = time.perf_counter() - t0
    done = json.loads((folder / "tfusion" / "metrics.jsonl").read_text().splitlines()[-1])["step"]
    t0 = time.perf_counter()
    fake = synth.sample(n, seed=0)
    return fake, {
        "train_s": round(fit_s, 1),
        "sample_s": round(time.perf_counter() - t0, 2),
        "steps": done,
    }


def run_peer(kind: str, train, static, categorical, n, budget, folder: Path, python: str):
    data, out = folder / "train.parquet", folder / f"{kind}.parquet"
    train.to_parquet(data)
    code = PEER.format(
        here=str(HERE),
        data=str(data),
        kind=kind,
        static=list(static),
        categorical=list(categorical),
        n=n,
        budget=budget,
        out=str(out),
    )
    t0 = time.perf_counter()
    proc = subprocess.run([python, "-c", code], capture_output=True, text=True)
    if proc.returncode != 0:
        return None, {"error": proc.stderr.strip().splitlines()[-1][:300]}
    info = json.loads(proc.stdout.split("INFO", 1)[1])
    info["wall_s"] = round(time.perf_counter() - t0, 1)
    return pd.read_parquet(out), info


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--budget", type=float, default=120.0, help="training seconds per generator")
    ap.add_argument(
        "--sets", nargs="+", default=["basicmotions", "japanesevowels", "basicmotions-state"]
    )
    ap.add_argument("--generators", nargs="+", default=["tfusion", "par", "dgan", "train"])
    ap.add_argument("--bf16", action="store_true", help="tfusion trains with bf16 autocast")
    ap.add_argument("--peers-python", default=".venv-peers/bin/python")
    ap.add_argument("--out", default=str(HERE / "results"))
    a = ap.parse_args()
    print(f"CPU: {cpu_model()}; budget {a.budget:g} s of training per generator")
    for name in a.sets:
        train, test, static, categorical = data_set(name)
        load_table(train, entity_column="case", time_column="step")  # fails early on bad data
        n = int(test["case"].nunique())
        path = Path(a.out, f"panel_peers_{name}.json")
        result = {"data": name, "budget_s": a.budget, "test_entities": n, "generators": {}}
        if path.is_file():  # rerunning some generators keeps the others' results
            result["generators"] = json.loads(path.read_text()).get("generators", {})
        with tempfile.TemporaryDirectory() as tmp:
            for gen in a.generators:
                folder = Path(tmp) / gen
                folder.mkdir()
                if gen == "train":  # the reference: the real training set itself
                    fake, info = train, {"train_s": 0.0, "note": "real training entities"}
                elif gen == "tfusion":
                    fake, info = run_tfusion(
                        train, static, categorical, n, a.budget, folder, a.bf16
                    )
                else:
                    fake, info = run_peer(
                        gen, train, static, categorical, n, a.budget, folder, a.peers_python
                    )
                entry = {"info": info}
                if fake is not None:
                    entry["scores"] = score_tables(
                        test, fake, "case", "step", static, categorical, window=24
                    )
                result["generators"][gen] = entry
                print(name, gen, json.dumps(info), flush=True)
                path.write_text(json.dumps(result, indent=2))
        print_table(result)
        print(flush=True)


def print_table(result: dict) -> None:
    rows = [
        ("length W1/mean", ("lengths", "wasserstein")),
        ("attribute TVD", ("attributes", "marginal_mean")),
        ("window marginal W1", ("windows", "marginal_wasserstein")),
        ("window increment W1", ("windows", "increment_wasserstein")),
        ("window autocorr dist", ("windows", "autocorrelation_distance")),
        ("coherence TSTR acc (higher better)", ("coherence", "class", "tstr_accuracy")),
        ("motion freq TVD", ("categories", "motion", "frequency_tvd")),
        ("motion transition MAE", ("categories", "motion", "transition_mae")),
    ]
    gens = [g for g in ("tfusion", "par", "dgan", "train") if g in result["generators"]]
    print(f"\n{result['data']} ({result['test_entities']} test entities)")
    print(f"{'score':36}" + "".join(f"{g:>12}" for g in gens))
    for label, path in rows:
        cells = []
        for g in gens:
            v = result["generators"][g].get("scores")
            for key in path:
                v = v.get(key) if isinstance(v, dict) else None
            cells.append(f"{v:>12.4f}" if isinstance(v, int | float) else f"{'-':>12}")
        if any(c.strip() != "-" for c in cells):
            print(f"{label:36}" + "".join(cells))
    train_s = [
        result["generators"][g]["info"].get("train_s")
        or result["generators"][g]["info"].get("train_seconds")
        for g in gens
    ]
    print(f"{'train s':36}" + "".join(f"{t!s:>12}" for t in train_s))


if __name__ == "__main__":
    sys.exit(main())
