"""Hostile-input tally: random broken inputs through the real CLI, counted by outcome.

Run: .venv/bin/python benchmarks/hostile_input.py [--cases 200] [--out benchmarks/out/hostile.json]

Four families of cases, each through `tfusion.cli.main.main` in-process (what a user runs):

- data: random CSV texts (NaN tokens, strings in numeric columns, empty and duplicated or
  unicode headers, one row, huge and tiny magnitudes, constant columns, other delimiters) given
  to `tfusion train` with a tiny model;
- checkpoints: a trained run folder with one file truncated at a random byte or with random
  bytes overwritten, then `tfusion sample`;
- configs: a key of the YAML config set to a value of the wrong type or an unknown key;
- panels: random long-format tables (2-8 entities of 1-15 rows: id, time, a text and a number
  attribute, a category channel, 1-2 numeric channels) with 0-2 corruptions (an attribute that
  varies within an entity, blank ids, bad or duplicate or mixed times, words in numbers, ragged
  rows, blank categories, one-row or too-short entities, missing or entity columns named in
  data.static / data.categorical) through `tfusion train` (data.whole true or false, data.window
  2-5), then `tfusion sample --entities K` (K in 0, -1, unset, 1-5; .csv, .parquet, .npy or
  .txt out) with random `--where` (a seen or unseen level, a number out of range, malformed
  items, an unknown name, a table with a bad level). One row per command: a sample that exits
  0 must write the input's columns and K entities.

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
import pandas as pd

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


PANEL_TINY = [x for x in TINY if not x.startswith("data.window=")]
SECTORS = ["bank", "tech", "retail"]
STATES = ["a", "b", "c", "2"]
WORDS = ["abc", "oops", "1.2.3", "--", "n/a"]
PANEL_DAMAGE = [
    "attribute varies within an entity",
    "blank id",
    "blank or unparseable time",
    "duplicate time within an entity",
    "word in a numeric channel",
    "row with an extra or missing field",
    "time column of mixed numbers and dates",
    "NaN / blank category cells",
    "an entity with one row",
    "all entities shorter than data.window",
    "data.static / data.categorical names a missing column",
    "entity column also in data.static",
]


def _day(n: int) -> str:
    return f"2024-01-{1 + n % 28:02d}" if n < 28 else f"2024-02-{1 + (n - 28) % 28:02d}"


def random_panel(rng: random.Random, window: int) -> tuple[str, list[str], list[str]]:
    """A long-format CSV text (id, t, sector, age, state, 1-2 numeric channels) with 0-2 random
    corruptions; returns it, the corruptions and the data.* arguments for `tfusion train`."""
    chans = ["power", "temp"][: rng.randint(1, 2)]
    header = ["id", "t", "sector", "age", "state", *chans]
    dates, int_ids = rng.random() < 0.3, rng.random() < 0.3
    damage = rng.sample(PANEL_DAMAGE, rng.choice([0, 0, 1, 1, 2]))
    short = "all entities shorter than data.window" in damage
    groups: list[list[list[str]]] = []
    for k in range(rng.randint(2, 8)):
        sector, age, start = rng.choice(SECTORS), rng.randint(20, 60), rng.randint(0, 5)
        length = rng.randint(1, window - 1) if short else rng.randint(1, 15)
        groups.append(
            [
                [
                    str(100 + k) if int_ids else f"e{k}",
                    _day(start + i) if dates else str(start + i),
                    sector,
                    str(age),
                    rng.choice(STATES),
                    *[f"{rng.gauss(k, 1):.3f}" for _ in chans],
                ]
                for i in range(length)
            ]
        )
    static, categorical = ["sector", "age"], ["state"]
    for d in damage:
        g = rng.choice(groups)
        r = rng.randrange(len(g))
        if d == "attribute varies within an entity":
            if len(g) < 2:
                g.append(list(g[-1]))
                g[-1][1] = _day(len(g) + 40) if dates else str(len(g) + 40)
            col = rng.choice([2, 3])
            g[-1][col] = "insurance" if col == 2 else str(int(g[-1][3]) + 7)
        elif d == "blank id":
            g[r][0] = ""
        elif d == "blank or unparseable time":
            g[r][1] = rng.choice(["", "soon", "2024-13-45", "nan", "12:99"])
        elif d == "duplicate time within an entity":
            if len(g) < 2:
                g.append(list(g[0]))
            g[-1][1] = g[-2][1]
        elif d == "word in a numeric channel":
            g[r][rng.randrange(5, len(header))] = rng.choice(WORDS)
        elif d == "row with an extra or missing field":
            g[r] = g[r] + ["7"] if rng.random() < 0.5 else g[r][:-1]
        elif d == "time column of mixed numbers and dates":
            for row in rng.sample(g, max(1, len(g) // 2)):
                row[1] = str(rng.randint(0, 30)) if dates else _day(rng.randint(0, 30))
        elif d == "NaN / blank category cells":
            for row in rng.sample(g, max(1, len(g) // 2)):
                row[4] = rng.choice(["", "nan", "NA"])
        elif d == "an entity with one row":
            del g[1:]
        elif d == "data.static / data.categorical names a missing column":
            (static if rng.random() < 0.5 else categorical).append("ghost")
        elif d == "entity column also in data.static":
            static.append("id")
    lines = [",".join(header), *(",".join(row) for g in groups for row in g)]
    args = [
        "data.entity=id",
        "data.time=t",
        f"data.static=[{','.join(static)}]",
        f"data.categorical=[{','.join(categorical)}]",
    ]
    return "\n".join(lines) + "\n", damage, args


def _where(rng: random.Random, text: str, root: Path, i: int) -> tuple[list[str], str]:
    """Random --where arguments and what they are."""
    levels = sorted({line.split(",")[2] for line in text.splitlines()[1:] if "," in line})
    kinds = ["none", "none", "valid", "valid", "unseen", "range", "malformed", "unknown", "table"]
    kind = rng.choice(kinds)
    if kind == "valid":
        return ["--where", f"sector={rng.choice(levels or ['bank'])}"], kind
    if kind == "unseen":
        return ["--where", "sector=insurance"], kind
    if kind == "range":
        return ["--where", f"age={rng.choice(['999', '-5', '1e308', 'old'])}"], kind
    if kind == "malformed":
        bad = rng.choice([["sector"], ["=tech"], ["sector:tech", "age=30"], ["sector=a", " "]])
        return [x for item in bad for x in ("--where", item)], kind
    if kind == "unknown":
        return ["--where", "colour=red"], kind
    if kind == "table":
        table = root / f"where{i}.csv"
        table.write_text("sector,age\ninsurance,30\nbank,\n", encoding="utf-8")
        return ["--where", str(table)], kind
    return [], kind


def _check_entities(out: Path, header: list[str], k: int | None, where: list[str]) -> str:
    """Why a sample that exited 0 is not a complete table with the input's schema ('' if it is)."""
    try:
        df = pd.read_parquet(out) if out.suffix == ".parquet" else pd.read_csv(out)
    except Exception as e:  # any unreadable output is the finding
        return f"output unreadable: {type(e).__name__}: {e}"
    if list(map(str, df.columns)) != header:
        return f"columns {list(df.columns)} != input {header}"
    want = k if k is not None else 2  # a --where table holds 2 rows
    if df["id"].nunique() != want:
        return f"{df['id'].nunique()} entities, asked for {want}"
    fixed = where[1].split("=", 1)[1] if where[1:2] and where[1].startswith("sector=") else None
    if fixed is not None and set(df["sector"].astype(str)) != {fixed}:
        return f"--where {where[1]} not honoured: sectors {sorted(set(df['sector']))}"
    return ""


def panel_cases(root: Path, n: int, rng: random.Random) -> list[dict]:
    """Random broken long-format panels through `tfusion train`, then `tfusion sample
    --entities` with random counts, suffixes and --where; one row per command."""
    rows = []
    for i in range(n):
        window = rng.randint(2, 5)
        text, damage, data_args = random_panel(rng, window)
        src = root / f"panel{i}.csv"
        src.write_text(text, encoding="utf-8")
        run_dir = root / f"prun{i}"
        whole = rng.choice(["true", "false"])
        args = [
            "train",
            "--out",
            str(run_dir),
            f"data.source={src}",
            *data_args,
            f"data.whole={whole}",
            f"data.window={window}",
            *PANEL_TINY,
        ]
        code, err = run(args)
        outcome = classify(code, err)
        partial = [f for f in ("model.safetensors", "config.yaml") if (run_dir / f).exists()]
        lost = src.read_text(encoding="utf-8") != text or (code != 0 and bool(partial))
        if code == 0 and not (run_dir / "model.safetensors").exists():
            outcome, err = "bug", err + "\nexit 0 but no model.safetensors"
        case = {"csv": text, "damage": damage}
        rows.append(
            {
                "family": "panels",
                "command": "train",
                "args": [a.replace(str(root), ".") for a in args[1:]],
                "outcome": outcome,
                "lost": lost,
                "detail": err[-600:],
                **({"left": partial} if lost else {}),
                **(case if outcome == "bug" or lost else {}),
            }
        )
        if code == 0:
            k = rng.choice([0, -1, None, 1, 2, 3, 3, 5, 5])
            where, kind = _where(rng, text, root, i)
            out_dir = root / f"pout{i}"
            out_dir.mkdir()
            out = out_dir / f"synth{rng.choice(['.csv', '.parquet', '.npy', '.txt'])}"
            sargs = ["sample", str(run_dir), "--steps", "2", "--out", str(out), *where]
            sargs += [] if k is None else ["--entities", str(k)]
            code, err = run(sargs)
            outcome = classify(code, err)
            left = sorted(p.name for p in out_dir.iterdir())
            lost = (code != 0 and bool(left)) or (code == 0 and left != [out.name])
            if code == 0 and not lost:
                why = _check_entities(out, text.splitlines()[0].split(","), k, where)
                if why:
                    outcome, err = "bug", err + "\n" + why
            rows.append(
                {
                    "family": "panels",
                    "command": "sample",
                    "where": kind,
                    "args": [a.replace(str(root), ".") for a in sargs[1:]],
                    "outcome": outcome,
                    "lost": lost,
                    "detail": err[-600:],
                    **({"left": left} if lost else {}),
                    **(case | {"train": rows[-1]["args"]} if outcome == "bug" or lost else {}),
                }
            )
            shutil.rmtree(out_dir, ignore_errors=True)
        shutil.rmtree(run_dir, ignore_errors=True)
    return rows


def _csv(root: Path, name: str, text: str | bytes) -> Path:
    path = root / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def _series(rows: int = 40, header: str = "a,b", sep: str = ",") -> str:
    values = np.cumsum(np.random.default_rng(1).normal(size=(rows, 2)), axis=0)
    return header + "\n" + "\n".join(f"{x:.4f}{sep}{y:.4f}" for x, y in values) + "\n"


class _Evil:  # pickled into a fake train state: loading it must never call os.system
    def __reduce__(self):
        import os

        return (os.system, ("echo pwned > /tmp/tfusion-pwned",))


OK_BEHAVIOUR = {
    "NaN / blank cells (default: interpolate)": "gaps filled linearly in time, ends take the "
    "nearest value (data.missing=drop or error to change)",
    "an empty column": "dropped, with the notice `dropped empty column 'b'`",
    "duplicated headers": "both columns kept, the second renamed `a.1`",
    "unicode headers": "names kept as written",
    "no header, only numbers": "the first line is data; columns are named 0, 1, ...",
    "huge magnitudes (1e300)": "trains: the scaler is fitted overflow-safe and maps to [-1, 1]",
    "tiny magnitudes (1e-320, subnormal)": "trains: scaled to [-1, 1]; subnormal floats are "
    "flushed in training only",
    "a constant column": "trains: a zero-range column is scaled to 0 and sampled back constant",
    "semicolon delimiter, decimal comma": "delimiter sniffed, decimal commas read as points",
    "tab delimiter": "delimiter sniffed",
    "UTF-16 with a byte-order mark (Excel's Unicode text)": "decoded from the byte-order mark, "
    "read like UTF-8",
    "'#' comment lines above the header": "skipped; line numbers in messages stay the file's",
}


def catalogue(root: Path) -> list[dict]:
    """One named case per kind of broken input, through the CLI: what a user sees."""
    good = _series()
    s = good.splitlines()
    data = {
        "file does not exist": ("missing.csv", None, []),
        "a folder instead of a file": (".", None, []),
        "empty file": ("empty.csv", "", []),
        "binary garbage": ("junk.csv", bytes(range(256)) * 4, []),
        "NaN / blank cells (default: interpolate)": (
            "nan.csv",
            "\n".join([s[0], *[r if i % 7 else "nan,1.0" for i, r in enumerate(s[1:])]]) + "\n",
            [],
        ),
        "NaN with data.missing=error": (
            "nan2.csv",
            "\n".join([s[0], s[1], ",2.0", *s[2:]]) + "\n",
            ["data.missing=error"],
        ),
        "all cells missing": ("allnan.csv", "a,b\n" + "nan,nan\n" * 30, []),
        "a string in a numeric column": (
            "str.csv",
            "\n".join([*s[:10], "1.0,abc", *s[10:]]) + "\n",
            [],
        ),
        "an empty column": (
            "emptycol.csv",
            "a,b,c\n" + "".join(f"{i},,{i * 2}\n" for i in range(40)),
            [],
        ),
        "duplicated headers": ("dup.csv", _series(header="a,a"), []),
        "unicode headers": ("uni.csv", _series(header="温度,é x"), []),
        "no header, only numbers": ("nohead.csv", "\n".join(s[1:]) + "\n", []),
        "one row": ("one.csv", "\n".join(s[:2]) + "\n", []),
        "series shorter than the window": ("short.csv", "\n".join(s[:3]) + "\n", []),
        "huge magnitudes (1e300)": (
            "huge.csv",
            "a,b\n" + "".join(f"{i}e300,{-i}e299\n" for i in range(1, 41)),
            [],
        ),
        "overflowing values (1e400)": (
            "inf.csv",
            "\n".join([*s[:5], "1e400,1", *s[5:]]) + "\n",
            [],
        ),
        "tiny magnitudes (1e-320, subnormal)": (
            "tiny.csv",
            "a,b\n" + "".join(f"{i}e-320,{i % 3}e-321\n" for i in range(1, 41)),
            [],
        ),
        "a constant column": (
            "const.csv",
            "a,b\n" + "".join(f"{i * 0.1},5\n" for i in range(40)),
            [],
        ),
        "semicolon delimiter, decimal comma": (
            "semi.csv",
            _series(header="a;b", sep=";").replace(".", ","),
            [],
        ),
        "tab delimiter": ("tab.csv", _series(header="a\tb", sep="\t"), []),
        "UTF-16 with a byte-order mark (Excel's Unicode text)": (
            "u16.csv",
            good.encode("utf-16"),
            [],
        ),
        "UTF-16 without a byte-order mark": ("u16le.csv", good.encode("utf-16-le"), []),
        "'#' comment lines above the header": (
            "comments.csv",
            "# logger v2\n# units: V\n" + good,
            [],
        ),
        "a '#' comment line inside the rows": (
            "midcomment.csv",
            "\n".join([*s[:10], "# recalibrated here", *s[10:]]) + "\n",
            [],
        ),
    }
    rows = []
    for case, (name, text, extra) in data.items():
        src = root / name if text is None else _csv(root, name, text)
        out = root / "cat_run"
        code, err = run(["train", "--out", str(out), f"data.source={src}", *TINY, *extra])
        rows.append({"input": "data", "case": case, "outcome": classify(code, err), "err": err})
        shutil.rmtree(out, ignore_errors=True)

    run_dir = root / "cat_good"
    assert (
        main(["train", "--out", str(run_dir), f"data.source={_csv(root, 'g.csv', good)}", *TINY])
        == 0
    )

    def damage(case: str, edit, verb: list[str]) -> None:
        bad = root / "cat_bad"
        shutil.rmtree(bad, ignore_errors=True)
        shutil.copytree(run_dir, bad)
        edit(bad)
        out = root / "cat.npy"
        code, err = run(
            [verb[0], str(bad), *verb[1:], "--out", str(out)]
            if verb[0] == "sample"
            else [*verb, str(bad)]
        )
        lost = code != 0 and out.exists()
        rows.append(
            {
                "input": "checkpoint",
                "case": case,
                "outcome": "bug" if lost else classify(code, err),
                "err": err,
            }
        )
        out.unlink(missing_ok=True)

    sample = ["sample", "--n", "2", "--steps", "2"]
    damage(
        "model weights truncated",
        lambda d: (d / "ema.safetensors").write_bytes((d / "ema.safetensors").read_bytes()[:300]),
        sample,
    )
    damage(
        "weights header overwritten",
        lambda d: (d / "ema.safetensors").write_bytes(
            b"\xff" * 16 + (d / "ema.safetensors").read_bytes()[16:]
        ),
        sample,
    )
    damage("weights file deleted", lambda d: (d / "ema.safetensors").unlink(), sample)
    damage(
        "config edited: model.width changed (weights do not match)",
        lambda d: (d / "config.yaml").write_text(
            (d / "config.yaml").read_text().replace("width: 16", "width: 24")
        ),
        sample,
    )
    damage(
        "config.yaml is not YAML",
        lambda d: (d / "config.yaml").write_text("model: [unclosed\n"),
        sample,
    )
    damage(
        "data_state.json truncated",
        lambda d: (d / "data_state.json").write_text('{"scaler": '),
        sample,
    )
    damage(
        "data_state.json without its scaler",
        lambda d: (d / "data_state.json").write_text(
            (d / "data_state.json").read_text().replace('"scaler"', '"scaler_"')
        ),
        sample,
    )

    def evil(d: Path) -> None:
        import pickle

        (d / "train_state.pt").write_bytes(pickle.dumps({"step": _Evil()}))

    damage(
        "train_state.pt replaced by a pickle that runs a command",
        evil,
        ["train", "--resume", "--out"],
    )
    rows[-1]["case"] += " (--resume)"
    if Path("/tmp/tfusion-pwned").exists():
        rows[-1]["outcome"] = "bug"
    damage(
        "a finished run given as --out again (no --resume)",
        lambda d: None,
        ["train", *TINY, "--out"],
    )

    for case, args in {
        "train.steps=ten": ["train.steps=ten"],
        "unknown key train.lrr": ["train.lrr=0.1"],
        "diffusion.prediction=noise": ["diffusion.prediction=noise"],
        "data.window=0": ["data.window=0"],
    }.items():
        code, err = run(
            ["train", "--out", str(root / "cfg"), f"data.source={root / 'g.csv'}", *TINY, *args]
        )
        rows.append({"input": "config", "case": case, "outcome": classify(code, err), "err": err})
        shutil.rmtree(root / "cfg", ignore_errors=True)
    bad_yaml = _csv(root, "bad.yaml", "train: {steps: 3\n")
    code, err = run(["train", "--config", str(bad_yaml), "--out", str(root / "cfg")])
    rows.append(
        {
            "input": "config",
            "case": "config file with a YAML syntax error",
            "outcome": classify(code, err),
            "err": err,
        }
    )
    blocker = _csv(root, "afile", "x")
    code, err = run(
        ["train", "--out", str(blocker / "run"), f"data.source={root / 'g.csv'}", *TINY]
    )
    rows.append(
        {
            "input": "run folder",
            "case": "--out inside a regular file (cannot be created)",
            "outcome": classify(code, err),
            "err": err,
        }
    )
    for r in rows:
        line = next((x for x in r["err"].splitlines() if x.startswith("error: ")), "")
        if line:
            r["message"] = line[len("error: ") :]
        elif r["outcome"] == "ok":
            r["message"] = OK_BEHAVIOUR.get(r["case"], "trains / samples normally")
        else:
            r["message"] = r["err"][-200:]
        r["message"] = r["message"].replace(str(root) + "/", "").replace(str(root), ".")
        del r["err"]
    return rows


def write_catalogue(rows: list[dict], path: Path) -> None:
    lines = [
        "# Broken and hostile input: what tfusion does",
        "",
        "Generated by",
        "`.venv/bin/python benchmarks/hostile_input.py --catalogue docs/hostile_input.md`:",
        "each case runs through the real CLI (`tfusion train` or `tfusion sample`). `ok` means",
        "the documented behaviour given, `clean error` means exit code 2 and this one line on",
        "stderr, with no output file written. The random-case tally is in",
        "`benchmarks/RESULTS.md`.",
        "",
        "| input | case | outcome | message |",
        "|---|---|---|---|",
    ]
    for r in rows:
        msg = r["message"].replace("|", "\\|")
        lines.append(f"| {r['input']} | {r['case']} | {r['outcome']} | {msg} |")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def main_() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--cases", type=int, default=200, help="data and checkpoint cases each")
    ap.add_argument("--panel-cases", type=int, default=None, help="panel cases (default: --cases)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="benchmarks/out/hostile_input.json")
    ap.add_argument("--catalogue", default=None, help="write the named-case table (markdown) here")
    args = ap.parse_args()
    if args.catalogue:
        with tempfile.TemporaryDirectory() as tmp:
            rows = catalogue(Path(tmp))
        write_catalogue(rows, Path(args.catalogue))
        for r in rows:
            print(f"{r['outcome']:<12} {r['case']}: {r['message'][:110]}")
        bugs = sum(r["outcome"] == "bug" for r in rows)
        print(f"{len(rows)} cases, {bugs} bugs; wrote {args.catalogue}")
        return
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        rows = data_cases(root, args.cases, rng)
        rows += checkpoint_cases(root, args.cases, rng)
        rows += config_cases(root)
        panels = args.cases if args.panel_cases is None else args.panel_cases
        rows += panel_cases(root, panels, rng)
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
