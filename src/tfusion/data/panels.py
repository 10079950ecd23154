"""Data made of many sequences: entity/time grouping of long-format tables and (N, L, C) arrays.

`tfusion.data.tables.load_table` takes the data.static / data.categorical columns from here
(`panel_columns`, `attribute_rows`, `categories`) and the time axis from `time_axis`.
`load_sequences` turns N independent pre-cut sequences into one checked `Table` whose `bounds`
keep them apart.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from tfusion.data.cells import (
    Column,
    cell_texts,
    find_column,
    kind_of,
    shown,
)
from tfusion.data.missing import MISSING_POLICIES, drop_missing_columns
from tfusion.data.readers import RawTable
from tfusion.data.sequence_files import SequenceArray
from tfusion.data.tables import Table, frozen_table
from tfusion.errors import ConfigError, DataError


def panel_columns(
    raw: RawTable,
    static: Sequence[str],
    categorical: Sequence[str],
    special: dict[str, int],
    ent: int | None,
    label: str,
) -> tuple[list[int], list[int], set[int]]:
    """Positions of the data.static columns, of the time-varying data.categorical ones, and of
    the static columns that data.categorical makes categories (numbers as levels)."""
    static_cols = [find_column(c, raw.names, label) for c in static]
    listed_cat = [find_column(c, raw.names, label) for c in categorical]
    for key, cols in (("static", static_cols), ("categorical", listed_cat)):
        if len(set(cols)) < len(cols):
            raise ConfigError(f"a column is listed twice in data.{key}; list it once")
        for j in cols:
            for other, k in special.items():
                if j == k:
                    raise ConfigError(
                        f"column {raw.names[j]!r} is data.{other} and cannot also be in data.{key}"
                    )
    if static_cols and ent is None:
        raise ConfigError(
            "data.static needs data.entity=COLUMN: attributes belong to entities (sequences)"
        )
    channels = [j for j in listed_cat if j not in static_cols]
    return static_cols, channels, set(listed_cat) & set(static_cols)


def categories(codes: np.ndarray, names: list) -> tuple[tuple[str, ...], np.ndarray]:
    """Sorted levels (numbers in numeric order, else alphabetical; blank "" last) of the
    codes present, and each cell's code into them."""
    from tfusion.data.codec import level_key

    present = np.unique(codes)
    order = sorted((names[c] for c in present), key=level_key)
    remap = np.zeros(len(names), dtype=np.int64)
    for c in present:
        remap[c] = order.index(names[c])
    return tuple(order), remap[codes]


def attribute_rows(
    raw: RawTable,
    parsed: list[Column],
    cols: list[int],
    categorical: set[int],
    rows: np.ndarray,
    bounds: np.ndarray,
    entities: tuple[str, ...],
    label: str,
) -> pd.DataFrame:
    """One row per sequence of the static columns; a value that changes within an entity is an
    error naming the entity and the column."""
    out: dict[str, object] = {}
    seg = np.repeat(np.arange(len(bounds) - 1), np.diff(bounds))
    for j in cols:
        name, col = raw.names[j], parsed[j]
        numeric = j not in categorical and kind_of(raw, j, col) != "text"
        blank = col.blank[rows]
        v = col.values[rows] if numeric else cell_texts(raw, j, col, rows)
        present = np.flatnonzero(~blank)
        firsts = np.full(len(bounds) - 1, len(rows), dtype=np.int64)
        np.minimum.at(firsts, seg[present], present)  # each sequence's first present row
        has = firsts < len(rows)
        if numeric and not has.all():
            k = int(np.flatnonzero(~has)[0])
            raise DataError(
                f"attribute {name!r} of {label} is empty for entity {entities[k]!r}; "
                "give every entity a value (or list the column in data.categorical)"
            )
        ref = np.where(has, firsts, 0)
        value = v[ref[seg]]
        # numbers: equal up to float noise only (np.isclose's default rtol of 1e-5 had let
        # 100000 / 100001, or epoch seconds hours apart, pass as one constant attribute)
        same = (value == v) if not numeric else np.isclose(value, v, rtol=1e-12, atol=0.0)
        differs = ~blank & ~same
        if differs.any():
            i = int(np.flatnonzero(differs)[0])
            k = int(seg[i])
            raise DataError(
                f"attribute {name!r} of {label} varies within entity {entities[k]!r} "
                f"({shown(v[ref[k]])} then {shown(v[i])} at {raw.where(int(rows[i]))}); a "
                "data.static "
                "column must be constant per entity: make it a channel (drop it from data.static)"
            )
        col_values = v[ref]
        if not numeric:
            col_values = np.where(has, col_values, "").astype(object)
        out[name] = col_values
    return pd.DataFrame(out)


def load_sequences(
    seq: SequenceArray,
    columns: Sequence[str | int] | None = None,
    missing: str = "interpolate",
    missing_values: Sequence[float] = (),
    reverse: bool = False,
    label_column: str | None = None,
    max_missing: float = 1.0,
    static: Sequence[str] = (),
    categorical: Sequence[str] = (),
) -> Table:
    """N independent sequences (N, L, C) as one checked Table: sequence k is rows
    bounds[k] .. bounds[k + 1] - 1 (`Table.bounds`), its first `seq.lengths[k]` steps when the
    .npz has `lengths` (padded sequences), else all L. The rules of `load_table`, per sequence
    and on real steps only: NaN is refused (`error`), filled within its sequence
    (`interpolate`), or its sequence is left out (`drop`). `label_column` must be `labels`, the
    .npz array of per-sequence classes. `static` names per-sequence arrays of the .npz (or
    `labels`) to use as attributes; numbers stay numbers unless also in `categorical`."""
    if missing not in MISSING_POLICIES:
        raise ConfigError(f"unknown data.missing {missing!r}; choose one of {MISSING_POLICIES}")
    label = seq.label
    x = seq.values.copy()  # (N, L, C)
    n, length, c = x.shape
    lengths = np.full(n, length, dtype=np.int64) if seq.lengths is None else seq.lengths
    real = np.arange(length)[None, :] < lengths[:, None]  # (N, L) the steps that exist
    names = seq.columns or tuple(f"f{j}" for j in range(c))
    notices: list[str] = []
    if label_column is not None and label_column.strip() != "labels":
        raise ConfigError(
            f"data.label={label_column!r}: the classes of (N, L, C) sequences are the .npz "
            "array `labels`; set data.label=labels"
        )
    if label_column is not None and seq.labels is None:
        raise DataError(
            f"{label} has no `labels` array; save one class per sequence with "
            "numpy.savez(..., labels=...) or unset data.label"
        )
    if seq.labels is not None and label_column is None and "labels" not in static:
        notices.append("the file holds per-sequence labels; set data.label=labels to use them")
    extra = [k for k in categorical if k not in static]
    if extra:
        raise ConfigError(
            f"data.categorical lists {', '.join(extra)}, which are no per-sequence attributes of "
            f"{label}; (N, L, C) arrays hold numbers only: list categories in data.static too"
        )
    if columns is not None:
        chosen = [find_column(k, names, label) for k in columns]
        if len(set(chosen)) < len(chosen):
            raise DataError("a column is selected twice in data.columns; list it once")
        x, names = x[:, :, chosen], tuple(names[j] for j in chosen)
    flat = x[real]  # (M, C) the real steps: what the column rules look at
    kept_cols, kept_names = drop_missing_columns(
        flat, tuple(str(j) for j in range(len(names))), missing_values, max_missing, label, notices
    )
    keep = [int(j) for j in kept_names]
    x, names = x[..., keep], tuple(names[j] for j in keep)
    x[real] = kept_cols
    inf = np.isinf(x) & real[..., None]
    if inf.any():
        k, t, j = np.argwhere(inf)[0]
        raise DataError(
            f"column {names[j]!r} of {label} holds {x[k, t, j]} at sequence {k}, step {t} "
            f"({int(inf.sum())} infinite values); replace them"
        )
    nan = np.isnan(x) & real[..., None]
    kept = np.arange(n)
    filled = None
    if nan.any() and missing != "keep":
        count = int(nan.sum())
        if missing == "error":
            k, t, j = np.argwhere(nan)[0]
            raise DataError(
                f"{label} has {count} missing values, the first in column {names[j]!r} at "
                f"sequence {k}, step {t}; fill them or set data.missing=interpolate or drop"
            )
        if missing == "drop":
            kept = np.flatnonzero(~nan.any(axis=(1, 2)))
            if not len(kept):
                raise DataError(
                    f"every sequence of {label} holds a missing value; set data.missing=interpolate"
                )
            notices.append(f"dropped {n - len(kept)} of {n} sequences holding missing values")
        else:
            for k, j in np.argwhere(nan.any(axis=1)):
                steps = np.arange(lengths[k], dtype=np.float64)
                gap = nan[k, : lengths[k], j]
                if gap.all():
                    raise DataError(
                        f"column {names[j]!r} of {label} has no value in sequence {k}, nothing "
                        "to interpolate from; set data.missing=drop or fill it"
                    )
                row = x[k, : lengths[k], j]
                row[gap] = np.interp(steps[gap], steps[~gap], row[~gap])
            notices.append(f"interpolated {int(count)} missing values within their sequences")
            filled = nan[real]
    lens = lengths[kept]
    values = x[kept][real[kept]]  # (rows, C), sequence after sequence
    bounds = np.concatenate([[0], np.cumsum(lens)]).astype(np.int64)
    if reverse:  # each sequence reversed in place, their order kept
        segment = np.repeat(np.arange(len(lens)), lens)
        order = bounds[segment] + bounds[segment + 1] - 1 - np.arange(len(values))
        values = values[order]
        filled = None if filled is None else filled[order]
    labels = None
    if label_column is not None:
        labels = np.repeat(seq.labels[kept], lens)
    table = frozen_table(values, names, notices, labels, filled, bounds)
    if not static:
        return table
    return _sequence_attributes(table, seq, static, categorical, kept)


def _sequence_attributes(
    table: Table,
    seq: SequenceArray,
    static: Sequence[str],
    categorical: Sequence[str],
    kept: np.ndarray,
) -> Table:
    """`Table.attributes` from per-sequence arrays of an .npz (`labels` included)."""
    import dataclasses

    from tfusion.data.cells import number_text

    arrays = {**seq.attributes, **({} if seq.labels is None else {"labels": seq.labels})}
    out, kinds, dtypes = {}, {}, {}
    for name in static:
        if name not in arrays:
            present = ", ".join(sorted(arrays)) or "none"
            raise DataError(
                f"data.static lists {name!r}, which is no per-sequence array of {seq.label} "
                f"(its arrays of one value per sequence: {present})"
            )
        a = np.asarray(arrays[name])[kept]
        if a.dtype.kind in "iubf":
            dtypes[name] = str(a.dtype)
        if a.dtype.kind in "iub":
            kinds[name] = "int"
        elif a.dtype.kind == "f":
            kinds[name] = "float"
        else:
            kinds[name] = "text"
        if kinds[name] != "text" and name not in categorical:
            out[name] = a.astype(np.float64)
            bad = ~np.isfinite(out[name])
            if bad.any():  # NaN had reached the attribute scaler and then the loss
                k = int(np.flatnonzero(bad)[0])
                raise DataError(
                    f"attribute {name!r} of {seq.label} is {shown(out[name][k])} for sequence "
                    f"{int(kept[k])} ({int(bad.sum())} such values); "
                    "give every sequence a finite value (or list it in data.categorical)"
                )
        elif kinds[name] == "text" or a.dtype == object:
            # bytes arrays (dtype S) decode as text; str(b"a") would be the level "b'a'"
            out[name] = np.asarray(
                [
                    (v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)).strip()
                    for v in a.tolist()
                ],
                dtype=object,
            )
        else:
            out[name] = np.asarray([number_text(float(v)) for v in a.tolist()], dtype=object)
    return dataclasses.replace(
        table,
        attributes=pd.DataFrame(out),
        kinds=kinds,
        schema=(*static, *table.columns),
        dtypes={**table.dtypes, **dtypes},
    )
