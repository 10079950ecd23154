"""Loading a time series as a checked numeric table (N time steps, C features), float64.

`source` is a built-in name (`goog`) or a file: .csv/.tsv (delimiter sniffed, decimal comma
understood), .parquet, .npy (1-D is one column, 2-D is (N, C)), .npz holding one array or .mat
(MATLAB v4-v7.2) holding one 2-D numeric matrix. Rows
are time steps, oldest first. Steps, in order:

0. A CSV whose first line is only numbers has no header: that line is data and the columns are
   named "0", "1", ...; duplicated header names are kept, renamed "a", "a.1"; a blank-headed
   first column of whole numbers rising by one (the row index pandas' to_csv writes) is dropped
   with a notice unless `columns` is given.
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
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from tfusion.data.builtin import BUILTIN, goog_frame
from tfusion.data.cells import (
    NUMERIC_SHARE,
    Column,
    cell_codes,
    cell_texts,
    find_column,
    kind_of,
    need_cells,
    parse_cells,
)
from tfusion.data.missing import MISSING_POLICIES, apply_missing, drop_missing_columns, need_rows
from tfusion.data.readers import RawTable, from_frame, read_raw, resolve_path
from tfusion.data.time_axis import (
    calendar_step,
    check_steps,
    fill_gaps,
    group_rows,
    time_zone,
)
from tfusion.errors import ConfigError, DataError


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
    time_zone: str | None = None  # dates: the zone they were written in ("+01:00"), if any
    calendar: str | None = None  # dates: a month/quarter/year frequency ("MS"), if the step is one
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
    # typed inputs (Parquet, DataFrame, .npz): numeric columns' dtypes ("int32", "bool", ...)
    dtypes: dict[str, str] = dataclasses.field(default_factory=dict)

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


def _row_index(name: str, col: Column) -> bool:
    """A blank-headed column of whole numbers rising by one: a saved DataFrame index."""
    if not (name == "" or name.startswith("Unnamed: ")) or col.blank.any() or col.bad.any():
        return False
    v = col.values
    return len(v) > 1 and bool(np.all(np.diff(v) == 1)) and float(v[0]).is_integer()


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
    need_rows(raw.rows, label, "")
    notices: list[str] = []
    parsed = [parse_cells(cells, raw.decimal_comma) for cells in raw.cells]
    special = {}  # data.label / data.entity / data.time: position of a column that is no feature
    for key, name in (("label", label_column), ("entity", entity_column), ("time", time_column)):
        if name is not None:
            j = find_column(name, raw.names, label)
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
        panel_columns,
    )

    static_cols, cat_cols, cat_static = panel_columns(
        raw, static_columns, categorical_columns, special, ent, label
    )
    chosen = None if columns is None else [find_column(c, raw.names, label) for c in columns]
    for key, j in special.items():
        if chosen is not None and j in chosen:
            raise ConfigError(
                f"column {raw.names[j]!r} is data.{key} and cannot also be in data.columns"
            )
    skip = {*special.values(), *static_cols, *cat_cols}
    keep = _numeric_columns(raw, parsed, chosen, label, notices, skip=skip)
    if chosen is None and keep and keep[0] == 0 and _row_index(raw.names[0], parsed[0]):
        keep = keep[1:]
        notices.append(
            "dropped the unnamed first column (0, 1, 2, ...: the row index pandas' to_csv "
            "writes); name it in the header to keep it as a feature"
        )

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
    need_rows(len(x), label, " after dropping empty rows")

    x, names = drop_missing_columns(x, names, missing_values, max_missing, label, notices)
    inf = np.isinf(x)
    if inf.any():
        i, j = np.argwhere(inf)[0]
        raise DataError(
            f"column {names[j]!r} of {label} holds {x[i, j]} at {raw.where(rows[i])} "
            f"({int(inf.sum())} infinite values); replace or blank them in the file"
        )
    t_rows = None if times is None else times[rows]
    calendar = None  # dates a whole number of months apart: steps counted on the calendar
    if t_rows is not None and time_kind == "datetime":
        g = codes[rows]
        calendar = calendar_step(t_rows, np.r_[0, np.flatnonzero(np.diff(g)) + 1, len(g)])
    if t_rows is not None and missing != "drop":
        x, rows, t_rows = fill_gaps(
            x, rows, codes[rows], t_rows, time_kind, missing, notices, calendar, raw.where
        )
    nan = np.isnan(x)
    groups = None if codes is None else codes[rows]
    x, rows = apply_missing(x, nan, rows, names, missing, raw, label, notices, groups)
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
            frequency, step = check_steps(t, bounds, time_kind, ent is not None, notices, calendar)
            starts = np.asarray(t[bounds[:-1]])
    order = slice(None, None, -1)
    if reverse and bounds is not None:  # each sequence reversed in place, their order kept
        seg = np.repeat(np.arange(len(bounds) - 1), np.diff(bounds))
        order = bounds[seg] + bounds[seg + 1] - 1 - np.arange(len(x))
    if reverse:
        x = x[order]
        labels = None if labels is None else labels[order].copy()
        filled = None if filled is None else filled[order]
    table = frozen_table(x, names, notices, labels, filled, bounds, entity_names, frequency)
    extra: dict = {
        "kinds": {
            raw.names[j]: kind_of(raw, j, parsed[j])
            for j in (*keep, *static_cols, *(c for c in (ent, lab) if c is not None))
        },
        "schema": raw.names,
        "dtypes": {name: d for name, d in zip(raw.names, raw.dtypes) if d},
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
        if time_kind == "datetime":
            assert tim is not None and bounds is not None
            extra.update(time_zone=time_zone(raw, tim, rows), calendar=calendar)
    return dataclasses.replace(table, **extra)


def frozen_table(
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


def _labels(raw: RawTable, j: int, col: Column, rows: np.ndarray, label: str) -> np.ndarray:
    """The label column's text at the kept file rows; numbers print without a trailing .0."""
    need_cells(raw, j, col, rows, label, "label", "labels", "every time step needs a label")
    return cell_texts(raw, j, col, rows)


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


def _id_hint(raw: RawTable, j: int, skip: set[int]) -> str:
    """A hint when a dropped text column looks like sequence ids (a few values, each in one
    block of rows) and no entity column is set: the file is likely many sequences, not one."""
    if skip:  # an entity (or label/time) column is set: the user chose the layout
        return ""
    codes, uniques = pd.factorize(pd.Series(raw.cells[j], dtype=object))
    blocks = 1 + int(np.count_nonzero(np.diff(codes)))
    if 1 < len(uniques) <= len(codes) // 4 and blocks == len(uniques):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "could not infer format"
            dates = pd.to_datetime(pd.Series(uniques[:50]), errors="coerce", format="mixed")
        if dates.notna().all():  # days of an hourly series, say: a time column, not ids
            return ""
        return (
            f" (it looks like sequence ids: {len(uniques)} values, each in one block of rows; "
            f"give data.entity={raw.names[j]} to read one sequence per id)"
        )
    return ""


def _numeric_columns(
    raw: RawTable,
    parsed: list[Column],
    chosen: list[int] | None,
    label: str,
    notices: list[str],
    skip: set[int] = frozenset(),
) -> list[int]:
    """Positions of the numeric columns to keep; drops others with a notice, or raises.
    `skip` (label, entity and time columns) is neither kept nor reported."""
    keep: list[int] = []
    examples: list[str] = []  # the first non-number of each dropped column
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
            first = str(raw.cells[j][int(np.flatnonzero(col.bad)[0])])
            hint = _id_hint(raw, j, skip) or f" (cells like {first!r} are not numbers)"
            notices.append(f"dropped non-numeric column {name!r}" + hint)
            examples.append(f"{name!r} holds {first!r}")
            continue
        if j in keep:
            raise DataError(f"column {name!r} is selected twice in data.columns; list it once")
        keep.append(j)
    if not keep:
        why = f": {examples[0]}, which is not a number" if examples else ""
        raise DataError(
            f"{label} has no numeric column (columns: {', '.join(raw.names)}){why}; "
            "pass a table of plain numbers (no thousands separators or units)"
        )
    return keep
