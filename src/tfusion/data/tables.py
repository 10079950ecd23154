"""Loading a time series as a checked numeric table (N time steps, C features), float64.

`source` is a built-in name (`goog`) or a file: .csv/.tsv (delimiter sniffed, decimal comma
understood), .parquet, .npy (1-D is one column, 2-D is (N, C)), .npz holding one array or .mat
(MATLAB v4-v7.2) holding one 2-D numeric matrix. Rows
are time steps, oldest first. Steps, in order:

0. A CSV whose first line is only numbers has no header: that line is data and the columns are
   named "0", "1", ...; duplicated header names are kept, renamed "a", "a.1".
1. Columns: `columns` keeps only the named ones, in that order; an entry that is no column name
   but an integer in text ("0") is a position in the file (names win over positions).
2. Cells: blank, `nan`, `na`, `n/a`, `null` and `none` (any case) are missing. A column is
   **numeric** when at least 90% of its non-missing cells parse as numbers; its other cells are
   an error naming column, row and value (a stray string is never silently dropped). A column
   below 90% (dates, times, labels) is dropped with a notice. Explicitly selected columns are
   never dropped: a non-numeric or empty selected column is an error.
3. Fully empty columns and fully empty rows (every cell of the file blank) are dropped with a
   notice.
4. Values equal to one of `missing_values` (sentinels such as -200) become missing, before any
   other check; a column left with no value at all is an error.
5. +inf and -inf are always an error.
5b. `max_missing` (a share, default 1 = off): a column with a larger share of missing values
   is dropped with a notice (AirQualityUCI's NMHC(GT) is 90% missing: interpolating it gives
   a column that is mostly straight lines).
6. Missing values, by policy `missing`: `drop` removes every row with a missing value;
   `interpolate` fills each gap linearly in time (row position), and gaps at either end with
   the nearest value; `error` refuses, giving the count and the first row and column.
7. At least 2 rows must remain. `reverse=True` then flips time (x[::-1]).

Rows in messages count data rows from 0 as in the file; CSV messages add the file line.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from tfusion.data.builtin import BUILTIN, goog_frame
from tfusion.data.readers import RawTable, from_frame, read_raw, resolve_path
from tfusion.errors import ConfigError, DataError

MISSING_POLICIES = ("drop", "interpolate", "error", "keep")  # keep: NaN stays (to impute)
MISSING_TEXT = frozenset({"", "nan", "na", "n/a", "null", "none"})
NUMERIC_SHARE = 0.9  # a column is numeric when >= 90% of its non-missing cells are numbers
_MAX_NAMES = 30  # columns listed in an "unknown column" message


@dataclass(frozen=True, eq=False)
class Table:
    """A checked numeric time series: values (N, C) float64, column names and notices."""

    values: np.ndarray
    columns: tuple[str, ...]
    notices: tuple[str, ...] = ()
    labels: np.ndarray | None = None  # (N,) str: the `label` column's value at each time step
    filled: np.ndarray | None = None  # (N, C) bool: interpolated cells (missing=interpolate)

    def long_gaps(self, max_gap: int) -> np.ndarray:
        """(N,) bool: time steps inside a filled gap (a run of interpolated cells of one
        column) longer than `max_gap` steps."""
        out = np.zeros(len(self.values), dtype=bool)
        if self.filled is None:
            return out
        for j in np.flatnonzero(self.filled.any(axis=0)):
            edges = np.diff(np.concatenate([[0], self.filled[:, j].astype(np.int8), [0]]))
            for start, stop in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)):
                if stop - start > max_gap:
                    out[start:stop] = True
        return out


@dataclass(frozen=True, eq=False)
class _Column:
    values: np.ndarray  # (N,) float64, NaN where missing or not a number
    blank: np.ndarray  # (N,) bool, the cell is missing
    bad: np.ndarray  # (N,) bool, the cell is present but not a number


def load_table(
    source: str | Path,
    columns: Sequence[str | int] | None = None,
    missing: str = "interpolate",
    missing_values: Sequence[float] = (),
    reverse: bool = False,
    label_column: str | None = None,
    max_missing: float = 1.0,
) -> Table:
    """Load a built-in table or a file and check it (see the module docstring for the rules).

    `label_column` names a column of class labels (text or numbers): it is not a feature, and
    its value at every kept time step is returned as `Table.labels` (text); a missing label is
    an error."""
    if missing not in MISSING_POLICIES:
        raise ConfigError(f"unknown data.missing {missing!r}; choose one of {MISSING_POLICIES}")
    if not 0.0 <= max_missing <= 1.0:
        raise ConfigError(f"data.max_missing must be a share in [0, 1], got {max_missing}")
    raw, label = _open(source)
    _need_rows(raw.rows, label, "")
    notices: list[str] = []
    parsed = [_parse(cells, raw.decimal_comma) for cells in raw.cells]
    lab = None if label_column is None else _find_column(label_column, raw.names, label)
    chosen = None if columns is None else [_find_column(c, raw.names, label) for c in columns]
    if lab is not None and chosen is not None and lab in chosen:
        raise ConfigError(
            f"column {raw.names[lab]!r} is data.label and cannot also be in data.columns"
        )
    keep = _numeric_columns(raw, parsed, chosen, label, notices, skip=lab)

    empty_rows = np.logical_and.reduce([c.blank for c in parsed])
    if empty_rows.any():
        notices.append(f"dropped {int(empty_rows.sum())} empty rows")
    rows = np.flatnonzero(~empty_rows)  # file row of each remaining time step, for messages
    names = tuple(raw.names[j] for j in keep)
    x = np.stack([parsed[j].values[rows] for j in keep], axis=1)  # (N, C)
    _need_rows(len(x), label, " after dropping empty rows")

    if len(missing_values):
        shown = ", ".join(f"{v:g}" for v in missing_values)
        hit = np.isin(x, np.asarray(missing_values, dtype=np.float64))
        if hit.any():
            x[hit] = np.nan
            notices.append(f"{int(hit.sum())} values equal to {shown} treated as missing")
        for j in np.flatnonzero(np.isnan(x).all(axis=0)):
            raise DataError(
                f"column {names[j]!r} of {label} has no value left once {shown} mean missing; "
                "check data.missing_values or leave the column out with data.columns"
            )
    share = np.isnan(x).mean(axis=0)
    high = share > max_missing
    if high.any():
        if high.all():
            raise DataError(
                f"every column of {label} has more than {max_missing:.0%} missing values; "
                "raise data.max_missing"
            )
        for j in np.flatnonzero(high):
            notices.append(
                f"dropped column {names[j]!r}: {share[j]:.0%} missing "
                f"(data.max_missing={max_missing:g})"
            )
        x = np.ascontiguousarray(x[:, ~high])
        names = tuple(n for n, h in zip(names, high) if not h)
    inf = np.isinf(x)
    if inf.any():
        i, j = np.argwhere(inf)[0]
        raise DataError(
            f"column {names[j]!r} of {label} holds {x[i, j]} at {raw.where(rows[i])} "
            f"({int(inf.sum())} infinite values); replace or blank them in the file"
        )
    nan = np.isnan(x)
    x, rows = _apply_policy(x, nan, rows, names, missing, raw, label, notices)
    filled = nan if missing == "interpolate" and nan.any() else None
    labels = None if lab is None else _labels(raw, lab, parsed[lab], rows, label)
    if reverse:
        x = x[::-1]
        labels = None if labels is None else labels[::-1].copy()
        filled = None if filled is None else filled[::-1]
    x = np.ascontiguousarray(x)
    x.flags.writeable = False  # a Table is frozen; copy before editing
    if filled is not None:
        filled = np.ascontiguousarray(filled)
        filled.flags.writeable = False
    return Table(values=x, columns=names, notices=tuple(notices), labels=labels, filled=filled)


def _labels(raw: RawTable, j: int, col: _Column, rows: np.ndarray, label: str) -> np.ndarray:
    """The label column's text at the kept file rows; numbers print without a trailing .0."""
    blank = col.blank[rows]
    if blank.any():
        i = int(rows[np.flatnonzero(blank)[0]])
        raise DataError(
            f"label column {raw.names[j]!r} of {label} is empty at {raw.where(i)} "
            f"({int(blank.sum())} missing labels); every time step needs a label"
        )
    out = []
    for i in rows:
        cell = raw.cells[j][i]
        if isinstance(cell, float | np.floating):
            out.append(f"{float(cell):g}")
        else:
            text = str(cell).strip()
            num = col.values[i]
            out.append(f"{num:g}" if not col.bad[i] and np.isfinite(num) else text)
    return np.asarray(out, dtype=object)


def _open(source: str | Path) -> tuple[RawTable, str]:
    """Raw columns and a display name for a built-in name or a path."""
    if isinstance(source, str) and source in BUILTIN:
        if BUILTIN[source].kind != "table":
            raise DataError(
                f"built-in {source!r} generates windows, not a table; "
                f"use it as data.source={source} with prepare() or call sine_windows()"
            )
        return from_frame(goog_frame()), source
    path = resolve_path(source, tuple(BUILTIN))
    return read_raw(path), str(path)


def _parse(cells: np.ndarray, decimal_comma: bool) -> _Column:
    """Numbers, missing cells and non-numbers of one raw column."""
    if cells.dtype == np.float64:
        blank = np.isnan(cells)
        return _Column(cells.copy(), blank, np.zeros_like(blank))
    text = pd.Series(cells, dtype=object).astype(str).str.strip()
    blank = text.str.lower().isin(MISSING_TEXT).to_numpy() | pd.isna(cells)
    if decimal_comma:
        text = text.str.replace(",", ".", regex=False)
    values = pd.to_numeric(text.where(~blank), errors="coerce").to_numpy(dtype=np.float64)
    return _Column(values, blank, ~blank & np.isnan(values))


def _find_column(key: str | int, names: tuple[str, ...], label: str) -> int:
    """Position of a column given by name, or by position as int or digit text."""
    text = str(key).strip()
    if text in names:
        return names.index(text)
    if text.isdigit() and int(text) < len(names):
        return int(text)
    shown = ", ".join(repr(n) for n in names[:_MAX_NAMES]) + (
        " ..." if len(names) > _MAX_NAMES else ""
    )
    raise DataError(f"unknown column {key!r} in {label}; available columns: {shown}")


def _numeric_columns(
    raw: RawTable,
    parsed: list[_Column],
    chosen: list[int] | None,
    label: str,
    notices: list[str],
    skip: int | None = None,
) -> list[int]:
    """Positions of the numeric columns to keep; drops others with a notice, or raises.
    `skip` (the label column) is neither kept nor reported."""
    keep = []
    for j in range(len(parsed)) if chosen is None else chosen:
        if j == skip:
            continue
        name, col = raw.names[j], parsed[j]
        present = int((~col.blank).sum())
        if present == 0:
            if chosen is not None:
                raise DataError(f"selected column {name!r} of {label} is empty; choose another")
            notices.append(f"dropped empty column {name!r}")
            continue
        n_bad = int(col.bad.sum())
        if n_bad and (present - n_bad) / present >= NUMERIC_SHARE:
            i = int(np.flatnonzero(col.bad)[0])
            raise DataError(
                f"column {name!r} of {label} has a non-number {str(raw.cells[j][i])!r} at "
                f"{raw.where(i)} ({n_bad} of {present} cells are not numbers); "
                "fix or blank those cells"
            )
        if n_bad:
            if chosen is not None:
                raise DataError(
                    f"selected column {name!r} of {label} is not numeric "
                    f"({present - n_bad} of {present} cells are numbers); choose another"
                )
            notices.append(f"dropped non-numeric column {name!r}")
            continue
        if j in keep:
            raise DataError(f"column {name!r} is selected twice in data.columns; list it once")
        keep.append(j)
    if not keep:
        raise DataError(
            f"{label} has no numeric column (columns: {', '.join(raw.names)}); "
            "pass a table of numbers"
        )
    return keep


def _apply_policy(
    x: np.ndarray,
    nan: np.ndarray,
    rows: np.ndarray,
    names: tuple[str, ...],
    missing: str,
    raw: RawTable,
    label: str,
    notices: list[str],
) -> tuple[np.ndarray, np.ndarray]:
    """Drop, interpolate or refuse the missing values of x (N, C), `nan` its missing mask;
    returns x and its file rows."""
    if not nan.any():
        return x, rows
    count = int(nan.sum())
    if missing == "keep":
        notices.append(f"kept {count} missing values as NaN")
        return x, rows
    if missing == "error":
        i, j = np.argwhere(nan)[0]
        raise DataError(
            f"{label} has {count} missing values, the first in column {names[j]!r} at "
            f"{raw.where(rows[i])}; fill them or set data.missing=interpolate or drop"
        )
    if missing == "drop":
        ok = ~nan.any(axis=1)
        notices.append(f"dropped {int((~ok).sum())} rows with missing values")
        _need_rows(int(ok.sum()), label, " after dropping rows with missing values")
        return x[ok], rows[ok]
    t = np.arange(len(x), dtype=np.float64)
    for j in np.flatnonzero(nan.any(axis=0)):
        gap = nan[:, j]
        # np.interp holds the first/last known value beyond the ends: nearest-value edges
        x[gap, j] = np.interp(t[gap], t[~gap], x[~gap, j])
        notices.append(f"interpolated {int(gap.sum())} missing values in column {names[j]!r}")
    return x, rows


def _need_rows(n: int, label: str, why: str) -> None:
    if n < 2:
        raise DataError(
            f"{label} has {n} usable rows{why}; a time series needs at least 2 "
            "(check the file, or use data.missing=interpolate)"
        )
