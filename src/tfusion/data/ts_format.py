"""The `.ts` format of the time-series classification archive (and of the data sets shipped in
the sktime wheel), read as a long-format table.

A `.ts` file is a header of `@key value` lines (`@problemName`, `@univariate`, `@equalLength`,
`@classLabel true a b c` or `@targetLabel true`, `@timeStamps`, ...; keys in any case, `#`
comments), then `@data` and one line per case: its channels separated by `:`, each channel's
values by `,`, `?` for a missing value, and the class label (or target) as the last field.
Cases may differ in length (JapaneseVowels, PLAID).

`read_ts` returns the rows of a long table: `case` (0, 1, ...), `step` (0 .. length - 1),
`class` (or `target`) when the file has labels, then `dim_0`, `dim_1`, ... Train on it with
`data.entity=case data.time=step` and, to learn the class as an attribute,
`data.static=[class] data.categorical=[class]`.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from tfusion.data.readers import RawTable
from tfusion.errors import DataError


def read_ts(path: Path) -> RawTable:
    """A .ts file as raw long-format columns (see the module docstring)."""
    header: dict[str, str] = {}
    cases: list[np.ndarray] = []
    labels: list[str] = []
    labelled = None
    with open(path, encoding="utf-8", errors="replace") as f:
        for number, line in enumerate(f, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            if labelled is None:  # still in the header
                key, _, value = line.partition(" ")
                key = key.lower()
                if key == "@data":
                    if header.get("@timestamps", "false").lower() == "true":
                        raise DataError(f"{path}: timestamped .ts files are not supported")
                    labelled = any(
                        header.get(k, "").lower().startswith("true")
                        for k in ("@classlabel", "@targetlabel")
                    )
                elif key.startswith("@"):
                    header[key] = value.strip()
                else:
                    raise DataError(f"{path}: line {number} comes before @data; is this a .ts?")
                continue
            fields = line.split(":")
            if labelled:
                labels.append(fields.pop().strip())
            try:
                channels = [
                    [np.nan if v.strip() in ("?", "") else float(v) for v in field.split(",")]
                    for field in fields
                ]
            except ValueError as e:
                raise DataError(
                    f"{path}: line {number} holds a value that is no number ({e})"
                ) from e
            if cases and len(channels) != cases[0].shape[1]:
                raise DataError(
                    f"{path}: line {number} has {len(channels)} channels, the first case "
                    f"{cases[0].shape[1]}"
                )
            length = max(len(c) for c in channels)
            case = np.full((length, len(channels)), np.nan)
            for j, c in enumerate(channels):
                case[: len(c), j] = c
            cases.append(case)
    if not cases:
        raise DataError(f"{path} has no cases after @data")
    lengths = [len(c) for c in cases]
    values = np.concatenate(cases)
    names = ["case", "step"]
    cells = [
        np.repeat(np.arange(len(cases)), lengths).astype(np.float64),
        np.concatenate([np.arange(n) for n in lengths]).astype(np.float64),
    ]
    if labelled:
        names.append("target" if "@targetlabel" in header else "class")
        cells.append(np.repeat(np.asarray(labels, dtype=object), lengths))
    names += [f"dim_{j}" for j in range(values.shape[1])]
    cells += [values[:, j] for j in range(values.shape[1])]
    integer = tuple([True, True] + [False] * (len(names) - 2))
    return RawTable(tuple(names), tuple(cells), integer=integer)


def sktime_file(name: str, split: str = "train") -> Path:
    """The .ts file of a data set shipped in the sktime wheel (BasicMotions, JapaneseVowels,
    PLAID, ACSF1, ...), found without importing sktime."""
    spec = importlib.util.find_spec("sktime")
    if spec is None or not spec.submodule_search_locations:
        raise DataError(
            f"the {name} data set ships with sktime, which is not installed; "
            "pip install sktime (or tfusion[panels])"
        )
    folder = Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data" / name
    path = folder / f"{name}_{split.upper()}.ts"
    if not path.is_file():
        shipped = sorted(p.name for p in folder.parent.iterdir() if p.is_dir())
        raise DataError(f"sktime ships no {path.name}; its data sets: {', '.join(shipped)}")
    return path
