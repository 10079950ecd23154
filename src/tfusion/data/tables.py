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

import dataclasses
import itertools
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
    # many sequences one after another: sequence k is rows bounds[k]:bounds[k + 1]; None: one
    bounds: np.ndarray | None = None
    entities: tuple[str, ...] = ()  # the entity id of each sequence (long-format tables)
    frequency: str | None = None  # the most common median time step (with a time column)
    time_kind: str | None = None  # "datetime" (int64 ns, UTC) or "number" (with a time column)
    step: float | None = None  # the most common median time step, in the time column's units
    starts: np.ndarray | None = None  # (sequences,) the first time of each sequence
    # data.categorical channels (time-varying categories): names, levels, per-row codes (N, K)
    categorical: tuple[str, ...] = ()
    levels: tuple[tuple[str, ...], ...] = ()
    codes: np.ndarray | None = None
    # data.static: one row per sequence (numeric columns float64, categorical ones text)
    attributes: pd.DataFrame | None = None
    # how each input column was written ("int", "float", "text", "number" = text of numbers),
    # so synthetic tables can be written back with the input's types
    kinds: dict[str, str] = dataclasses.field(default_factory=dict)
    schema: tuple[str, ...] = ()  # every column of the input, in its order

    def long_gaps(self, max_gap: int) -> np.ndarray:
        """(N,) bool: time steps inside a filled gap (a run of interpolated cells of one
        column) longer than `max_gap` steps."""
        out = np.zeros(len(self.values), dtype=bool)
        if self.filled is None:
            return out
        filled = self.filled.astype(np.int8)
        if self.bounds is not None:  # a gap ends with its sequence
            filled = np.insert(filled, self.bounds[1:-1], 0, axis=0)
        long = np.zeros(len(filled), dtype=bool)
        for j in np.flatnonzero(self.filled.any(axis=0)):
            edges = np.diff(np.concatenate([[0], filled[:, j], [0]]))
            for start, stop in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)):
                if stop - start > max_gap:
                    long[start:stop] = True
        if self.bounds is None:
            return long
        spacer = np.zeros(len(filled), dtype=bool)
        spacer[self.bounds[1:-1] + np.arange(len(self.bounds) - 2)] = True
        out[:] = long[~spacer]
        return out


@dataclass(frozen=True, eq=False)
class _Column:
    values: np.ndarray  # (N,) float64, NaN where missing or not a number
    blank: np.ndarray  # (N,) bool, the cell is missing
    bad: np.ndarray  # (N,) bool, the cell is present but not a number


def load_table(
    source: str | Path | pd.DataFrame,
    columns: Sequence[str | int] | None = None,
    missing: str = "interpolate",
    missing_values: Sequence[float] = (),
    reverse: bool = False,
    label_column: str | None = None,
    max_missing: float = 1.0,
    entity_column: str | None = None,
    time_column: str | None = None,
    static_columns: Sequence[str] = (),
    categorical_columns: Sequence[str] = (),
) -> Table:
    """Load a built-in table, a file or a DataFrame and check it (the module docstring has the
    rules).

    `label_column` names a column of class labels (text or numbers): it is not a feature, and
    its value at every kept time step is returned as `Table.labels` (text); a missing label is
    an error.

    `entity_column` names the sequence each row belongs to (long format): rows are grouped by
    entity in first-seen order, `Table.bounds` marks each entity's rows, and missing values are
    interpolated within an entity. `time_column` is parsed as datetimes or numbers and sorts
    each entity's rows; duplicate times are an error, steps that differ from an entity's median
    step (gaps) are reported in a notice. Neither column is a feature."""
    if missing not in MISSING_POLICIES:
        raise ConfigError(f"unknown data.missing {missing!r}; choose one of {MISSING_POLICIES}")
    if not 0.0 <= max_missing <= 1.0:
        raise ConfigError(f"data.max_missing must be a share in [0, 1], got {max_missing}")
    raw, label = _open(source)
    _need_rows(raw.rows, label, "")
    notices: list[str] = []
    parsed = [_parse(cells, raw.decimal_comma) for cells in raw.cells]
    special = {}  # data.label / data.entity / data.time: position of a column that is no feature
    for key, name in (("label", label_column), ("entity", entity_column), ("time", time_column)):
        if name is not None:
            j = _find_column(name, raw.names, label)
            if j in special.values():
                other = next(k for k, v in special.items() if v == j)
                raise ConfigError(
                    f"column {raw.names[j]!r} is data.{other} and cannot also be data.{key}"
                )
            special[key] = j
    lab, ent, tim = (special.get(k) for k in ("label", "entity", "time"))
    from tfusion.data.panels import (  # panels imports this module
        attribute_rows,
        categories,
        check_steps,
        fill_gaps,
        group_rows,
        panel_columns,
    )

    static_cols, cat_cols, cat_static = panel_columns(
        raw, static_columns, categorical_columns, special, ent, label
    )
    chosen = None if columns is None else [_find_column(c, raw.names, label) for c in columns]
    for key, j in special.items():
        if chosen is not None and j in chosen:
            raise ConfigError(
                f"column {raw.names[j]!r} is data.{key} and cannot also be in data.columns"
            )
    skip = {*special.values(), *static_cols, *cat_cols}
    keep = _numeric_columns(raw, parsed, chosen, label, notices, skip=skip)

    empty_rows = np.logical_and.reduce([c.blank for c in parsed])
    if empty_rows.any():
        notices.append(f"dropped {int(empty_rows.sum())} empty rows")
    rows = np.flatnonzero(~empty_rows)  # file row of each remaining time step, for messages
    codes = times = None  # by file row: entity number, time (numbers or ns)
    entity_names: tuple[str, ...] = ()
    time_kind = ""
    if ent is not None or tim is not None:
        rows, codes, entity_names, times, time_kind = group_rows(raw, parsed, ent, tim, rows, label)
    names = tuple(raw.names[j] for j in keep)
    x = np.empty((len(rows), len(keep)))  # (N, C), filled column by column: no second copy
    for k, j in enumerate(keep):
        np.take(parsed[j].values, rows, out=x[:, k])
    _need_rows(len(x), label, " after dropping empty rows")

    x, names = drop_missing_columns(x, names, missing_values, max_missing, label, notices)
    inf = np.isinf(x)
    if inf.any():
        i, j = np.argwhere(inf)[0]
        raise DataError(
            f"column {names[j]!r} of {label} holds {x[i, j]} at {raw.where(rows[i])} "
            f"({int(inf.sum())} infinite values); replace or blank them in the file"
        )
    t_rows = None if times is None else times[rows]
    if t_rows is not None and missing != "drop":
        x, rows, t_rows = fill_gaps(x, rows, codes[rows], t_rows, time_kind, missing, notices)
    nan = np.isnan(x)
    groups = None if codes is None else codes[rows]
    x, rows = _apply_policy(x, nan, rows, names, missing, raw, label, notices, groups)
    if t_rows is not None and missing == "drop":
        t_rows = times[rows]
    filled = nan if missing == "interpolate" and nan.any() else None
    labels = None if lab is None else _labels(raw, lab, parsed[lab], rows, label)
    bounds = frequency = step = starts = None
    if codes is not None:
        groups = codes[rows]
        bounds = np.flatnonzero(np.diff(groups)) + 1
        bounds = np.concatenate([[0], bounds, [len(rows)]]).astype(np.int64)
        entity_names = tuple(entity_names[g] for g in groups[bounds[:-1]])
        if t_rows is not None:
            t = t_rows
            frequency, step = check_steps(t, bounds, time_kind, ent is not None, notices)
            starts = np.asarray(t[bounds[:-1]])
    order = slice(None, None, -1)
    if reverse and bounds is not None:  # each sequence reversed in place, their order kept
        seg = np.repeat(np.arange(len(bounds) - 1), np.diff(bounds))
        order = bounds[seg] + bounds[seg + 1] - 1 - np.arange(len(x))
    if reverse:
        x = x[order]
        labels = None if labels is None else labels[order].copy()
        filled = None if filled is None else filled[order]
    table = _frozen_table(x, names, notices, labels, filled, bounds, entity_names, frequency)
    extra: dict = {
        "kinds": {
            raw.names[j]: kind_of(raw, j, parsed[j])
            for j in (*keep, *static_cols, *(() if ent is None else (ent,)))
        },
        "schema": raw.names,
    }
    if cat_cols:
        levels, codes = [], []
        for j in cat_cols:
            lv, cd = categories(*cell_codes(raw, j, parsed[j], rows))
            levels.append(lv)
            codes.append(cd)
            extra["kinds"][raw.names[j]] = kind_of(raw, j, parsed[j])
        codes_arr = np.stack(codes, axis=1)
        extra.update(
            categorical=tuple(raw.names[j] for j in cat_cols),
            levels=tuple(levels),
            codes=codes_arr[order] if reverse else codes_arr,
        )
    if static_cols:
        assert bounds is not None
        extra["attributes"] = attribute_rows(
            raw, parsed, static_cols, cat_static, rows, bounds, entity_names, label
        )
    if starts is not None:
        extra.update(time_kind=time_kind, step=step, starts=starts)
    return dataclasses.replace(table, **extra)


def kind_of(raw: RawTable, j: int, col: _Column) -> str:
    """How a column was written: int or float numbers, or text. A typed source (Parquet, a
    DataFrame) says whether a column held ints; in a CSV, whole numbers written without a
    decimal point or exponent are ints."""
    present = ~col.blank
    if col.bad[present].any() or not present.any():
        return "text"
    cells = raw.cells[j]
    if cells.dtype == np.float64:
        return "int" if raw.integer and raw.integer[j] else "float"
    values = col.values[present]
    if not np.all(values == np.round(values)):
        return "float"
    written = pd.Series(cells[present], dtype=object).astype(str)
    return "float" if written.str.contains(r"[.eE]", regex=True).any() else "int"


def number_text(value: float) -> str:
    """A number as a level or label: no trailing .0, all 15 significant digits kept."""
    return f"{value:.15g}"


def shown(value: object) -> str:
    """A cell in a message: numbers as written, text quoted."""
    if isinstance(value, float | np.floating):
        return number_text(float(value))
    return repr(str(value))


def _frozen_table(
    x: np.ndarray,
    names: tuple[str, ...],
    notices: list[str],
    labels: np.ndarray | None,
    filled: np.ndarray | None,
    bounds: np.ndarray | None = None,
    entities: tuple[str, ...] = (),
    frequency: str | None = None,
) -> Table:
    x = np.ascontiguousarray(x)
    x.flags.writeable = False  # a Table is frozen; copy before editing
    if filled is not None:
        filled = np.ascontiguousarray(filled)
        filled.flags.writeable = False
    return Table(x, names, tuple(notices), labels, filled, bounds, entities, frequency)


def cell_codes(raw: RawTable, j: int, col: _Column, rows: np.ndarray) -> tuple[np.ndarray, list]:
    """The cells of column j at `rows` as codes into their texts (first-seen order): numbers
    without a trailing .0, text stripped, blank cells "". Only the distinct cells are turned
    into text, so a column of millions of ids costs one code per row."""
    codes, uniques = pd.factorize(raw.cells[j][rows])  # missing cells (None, NaN) -> -1
    uniques = np.asarray(uniques, dtype=object)
    u = _parse(uniques, raw.decimal_comma) if len(uniques) else None
    texts = []
    for i, cell in enumerate(uniques.tolist()):
        if u is not None and u.blank[i]:
            texts.append("")
        elif not u.bad[i] and np.isfinite(u.values[i]):  # type: ignore[union-attr]
            texts.append(number_text(float(u.values[i])))  # type: ignore[union-attr]
        else:
            texts.append(str(cell).strip())
    texts.append("")  # code -1 (a missing cell) indexes this last entry
    merged, names = pd.factorize(np.asarray(texts, dtype=object))
    return merged[codes], [str(v) for v in names]


def _texts(raw: RawTable, j: int, col: _Column, rows: np.ndarray) -> np.ndarray:
    """A column's cells at `rows` as text (object array sharing one string per distinct
    cell); numbers print without a trailing .0, blank cells are ""."""
    codes, names = cell_codes(raw, j, col, rows)
    return np.asarray(names, dtype=object)[codes]


def need_cells(
    raw: RawTable,
    j: int,
    col: _Column,
    rows: np.ndarray,
    label: str,
    role: str,
    what: str,
    why: str,
) -> None:
    """A one-line error naming the first empty cell of a column that every row needs (the
    entity, time or label column: `role`), with how many `what` are missing."""
    blank = col.blank[rows]
    if blank.any():
        i = int(rows[np.flatnonzero(blank)[0]])
        raise DataError(
            f"{role} column {raw.names[j]!r} of {label} is empty at {raw.where(i)} "
            f"({int(blank.sum())} missing {what}); {why}"
        )


def _labels(raw: RawTable, j: int, col: _Column, rows: np.ndarray, label: str) -> np.ndarray:
    """The label column's text at the kept file rows; numbers print without a trailing .0."""
    need_cells(raw, j, col, rows, label, "label", "labels", "every time step needs a label")
    return _texts(raw, j, col, rows)


def _open(source: str | Path | pd.DataFrame) -> tuple[RawTable, str]:
    """Raw columns and a display name for a built-in name, a path or a DataFrame."""
    if isinstance(source, pd.DataFrame):
        return from_frame(source), "the DataFrame"
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
    if cells.dtype == np.float64:  # shared with the RawTable, never written to (no copy)
        blank = np.isnan(cells)
        return _Column(cells, blank, np.zeros_like(blank))
    # each distinct cell is parsed once (a column of ids repeats a few texts millions of times)
    codes, uniques = pd.factorize(cells)  # missing cells (None, NaN) -> -1
    text = pd.Series(np.asarray(uniques, dtype=object), dtype=object).astype(str).str.strip()
    blank = text.str.lower().isin(MISSING_TEXT).to_numpy()
    if decimal_comma:
        text = text.str.replace(",", ".", regex=False)
    values = pd.to_numeric(text.where(~blank), errors="coerce").to_numpy(dtype=np.float64)
    values = np.append(values, np.nan)[codes]  # code -1 takes the appended missing entry
    blank = np.append(blank, True)[codes]
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
    skip: set[int] = frozenset(),
) -> list[int]:
    """Positions of the numeric columns to keep; drops others with a notice, or raises.
    `skip` (label, entity and time columns) is neither kept nor reported."""
    keep = []
    for j in range(len(parsed)) if chosen is None else chosen:
        if j in skip:
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
    groups: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Drop, interpolate or refuse the missing values of x (N, C), `nan` its missing mask;
    returns x and its file rows. `groups` (N,) (sorted entity numbers): interpolation stays
    within each group."""
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
    cuts = [0, len(x)]
    if groups is not None:
        cuts = [0, *(np.flatnonzero(np.diff(groups)) + 1).tolist(), len(x)]
    for j in np.flatnonzero(nan.any(axis=0)):
        for a, b in itertools.pairwise(cuts):
            gap = nan[a:b, j]
            if not gap.any():
                continue
            if gap.all():
                raise DataError(
                    f"column {names[j]!r} of {label} has no value in the sequence starting at "
                    f"{raw.where(rows[a])}, nothing to interpolate from; set data.missing=drop "
                    "or fill it"
                )
            # np.interp holds the first/last known value beyond the ends: nearest-value edges
            x[a:b, j][gap] = np.interp(t[a:b][gap], t[a:b][~gap], x[a:b, j][~gap])
        notices.append(f"interpolated {int(nan[:, j].sum())} missing values in column {names[j]!r}")
    return x, rows


def _need_rows(n: int, label: str, why: str) -> None:
    if n < 2:
        raise DataError(
            f"{label} has {n} usable rows{why}; a time series needs at least 2 "
            "(check the file, or use data.missing=interpolate)"
        )


def drop_missing_columns(
    x: np.ndarray,
    names: tuple[str, ...],
    missing_values: Sequence[float],
    max_missing: float,
    label: str,
    notices: list[str],
) -> tuple[np.ndarray, tuple[str, ...]]:
    """Steps 4 and 5b for values (..., C), a series or (N, L, C) sequences: sentinels become
    NaN (in place); a column left with no value is an error; columns with a larger share of
    NaN than `max_missing` are dropped with a notice."""
    flat = x.reshape(-1, x.shape[-1])  # a view: sentinels are set in x itself
    if len(missing_values):
        shown = ", ".join(f"{v:g}" for v in missing_values)
        hit = np.isin(flat, np.asarray(missing_values, dtype=np.float64))
        if hit.any():
            flat[hit] = np.nan
            notices.append(f"{int(hit.sum())} values equal to {shown} treated as missing")
        for j in np.flatnonzero(np.isnan(flat).all(axis=0)):
            raise DataError(
                f"column {names[j]!r} of {label} has no value left once {shown} mean missing; "
                "check data.missing_values or leave the column out with data.columns"
            )
    share = np.isnan(flat).mean(axis=0)
    high = share > max_missing
    if not high.any():
        return x, names
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
    return np.ascontiguousarray(x[..., ~high]), tuple(n for n, h in zip(names, high) if not h)
