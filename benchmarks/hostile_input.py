"""Hostile-input tally: random broken inputs through the real CLI, counted by outcome.

Run: .venv/bin/python benchmarks/hostile_input.py [--cases 200] [--out benchmarks/out/hostile.json]

Three families of cases, each through `tfusion.cli.main.main` in-process (what a user runs):

- data: random CSV texts (NaN tokens, strings in numeric columns, empty and duplicated or
  unicode headers, one row, huge and tiny magnitudes, constant columns, other delimiters) given
  to `tfusion train` with a tiny model;
- checkpoints: a trained run folder with one file truncated at a random byte or with random
  bytes overwritten, then `tfusion sample`;
- configs: a key of the YAML config set to a value of the wrong type or an unknown key.

Outcomes: `ok` (exit 0 and a complete output), `clean error` (exit 2 and one line `error: ...`),
`bug` (anything else: a traceback, another exit code, a partial output). "Data lost" counts cases
that left a partial or corrupt output file or damaged the input. The target is bug = 0 and
data lost = 0.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import random
import shutil
import tempfile
import traceback
from pathlib import Path

import numpy as np

from tfusion.cli.main import main

TINY = [
    "model.preset=tiny",
    "model.width=16",
    "model.depth=1",
    "model.ff=32",
    "train.steps=2",
    "train.batch_size=4",
    "train.progress=false",
    "train.checkpoint_every=2",
    "data.window=3",
]
TOKENS = ["", "nan", "NA", "null", "inf", "-inf", "abc", " ", "1e308", "-1e308", "1e-320", "3,5"]
HEADERS = ["a", "a", "温度", "Date", "", "é", "x y", '"q"']


def run(args: list[str]) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            code = main(args)
        except BaseException:  # a bug: report it, do not stop the tally
            return -1, traceback.format_exc()
    return code, err.getvalue()


def classify(code: int, err: str) -> str:
    lines = [line for line in err.splitlines() if line.startswith("error: ")]
    if code == 0:
        return "ok"
    if code == 2 and len(lines) == 1 and "Traceback" not in err:
        return "clean error"
    return "bug"


def random_csv(rng: random.Random) -> str:
    sep = rng.choice([",", ";", "\t", "|"])
    cols, rows = rng.randint(1, 4), rng.choice([0, 1, 2, 5, 12, 30])
    head = [rng.choice(HEADERS) for _ in range(cols)]
    lines = [sep.join(head)]
    junk = rng.choice([0.0, 0.0, 0.03, 0.15])  # some files are clean, most are not
    for _ in range(rows):
        cells = []
        for _ in range(cols):
            if rng.random() < junk:
                cells.append(rng.choice(TOKENS).replace(sep, "_"))
            else:
                cells.append(repr(rng.gauss(0, 1) * 10 ** rng.choice([-300, -5, 0, 0, 0, 5, 300])))
        lines.append(sep.join(cells))
    return "\n".join(lines) + "\n"


def data_cases(root: Path, n: int, rng: random.Random) -> list[dict]:
    rows = []
    for i in range(n):
        src = root / f"d{i}.csv"
        src.write_text(random_csv(rng), encoding="utf-8")
        before = src.read_bytes()
        out = root / f"run{i}"
        code, err = run(["train", "--out", str(out), f"data.source={src}", *TINY])
        outcome = classify(code, err)
        lost = src.read_bytes() != before or (code != 0 and (out / "model.safetensors").exists())
        rows.append({"family": "data", "outcome": outcome, "lost": lost, "detail": err[-300:]})
        shutil.rmtree(out, ignore_errors=True)
    return rows


def checkpoint_cases(root: Path, n: int, rng: random.Random) -> list[dict]:
    src = root / "good.csv"
    values = np.cumsum(np.random.default_rng(0).normal(size=(40, 2)), axis=0)
    src.write_text("a,b\n" + "\n".join(f"{x:.4f},{y:.4f}" for x, y in values))
    good = root / "good_run"
    assert main(["train", "--out", str(good), f"data.source={src}", *TINY]) == 0
    rows = []
    files = ["ema.safetensors", "model.safetensors", "config.yaml", "data_state.json"]
    for i in range(n):
        bad = root / f"bad{i}"
        shutil.copytree(good, bad)
        name = rng.choice(files)
        data = bytearray((bad / name).read_bytes())
        if rng.random() < 0.5:
            data = data[: rng.randrange(len(data))]
        else:
            for _ in range(rng.randint(1, 8)):
                data[rng.randrange(len(data))] = rng.randrange(256)
        (bad / name).write_bytes(bytes(data))
        out = root / f"s{i}.npy"
        code, err = run(["sample", str(bad), "--n", "2", "--steps", "2", "--out", str(out)])
        outcome = classify(code, err)
        if code == 0:  # a flipped byte inside a weight loads: the output must still be complete
            x = np.load(out)
            outcome = "ok" if x.shape == (2, 3, 2) else "bug"
        lost = code != 0 and out.exists()
        rows.append(
            {
                "family": "checkpoint",
                "file": name,
                "outcome": outcome,
                "lost": lost,
                "detail": err[-300:],
            }
        )
        shutil.rmtree(bad)
        out.unlink(missing_ok=True)
    return rows


def config_cases(root: Path) -> list[dict]:
    bad_values = {
        "train.steps": ["ten", "1.5", "[1, 2]", "true"],
        "train.lr": ["fast", "[0.1]", "{a: 1}"],
        "data.window": ["-3", "0", "x"],
        "model.preset": ["[tiny]", "huge"],
        "diffusion.prediction": ["noise", "3"],
        "sample.steps": ["0", "many"],
        "train.lrr": ["0.1"],
        "dat.window": ["3"],
    }
    rows = []
    for key, values in bad_values.items():
        for value in values:
            out = root / "cfg_run"
            code, err = run(["train", "--out", str(out), *TINY, f"{key}={value}"])
            rows.append(
                {
                    "family": "config",
                    "case": f"{key}={value}",
                    "outcome": classify(code, err),
                    "lost": False,
                    "detail": err[-300:],
                }
            )
            shutil.rmtree(out, ignore_errors=True)
    return rows


def main_() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--cases", type=int, default=200, help="data and checkpoint cases each")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="benchmarks/out/hostile_input.json")
    args = ap.parse_args()
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        rows = data_cases(root, args.cases, rng)
        rows += checkpoint_cases(root, args.cases, rng)
        rows += config_cases(root)
    table = {}
    for r in rows:
        t = table.setdefault(
            r["family"], {"cases": 0, "ok": 0, "clean error": 0, "bug": 0, "lost": 0}
        )
        t["cases"] += 1
        t[r["outcome"]] += 1
        t["lost"] += int(r["lost"])
    print(f"{'family':<12}{'cases':>7}{'ok':>6}{'clean error':>13}{'bug':>5}{'data lost':>11}")
    for fam, t in table.items():
        print(
            f"{fam:<12}{t['cases']:>7}{t['ok']:>6}{t['clean error']:>13}"
            f"{t['bug']:>5}{t['lost']:>11}"
        )
    bugs = [r for r in rows if r["outcome"] == "bug" or r["lost"]]
    for r in bugs[:5]:
        print("BUG:", r)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"table": table, "bugs": bugs}, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main_()
