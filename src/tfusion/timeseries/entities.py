"""Synthetic entities written with the input's schema: long tables (.csv, .parquet) for runs
trained on entity tables, .npz for runs trained on (N, L, C) sequences."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tfusion.data.codec import PanelCodec
from tfusion.io import CSV_FLOAT, atomic_path, check_out_path
from tfusion.timeseries.sample import Panel

ENTITY_OUT = (".csv", ".parquet")


def check_entity_path(path: str | Path, npz: bool = False) -> Path:
    """Fail before sampling if synthetic entities could not be written to `path` (.npz too for
    runs trained on (N, L, C) sequences)."""
    return check_out_path(path, (*ENTITY_OUT, ".npz") if npz else ENTITY_OUT)


def write_sequences(
    panel: Panel, codec: PanelCodec | None, path: str | Path, reverse: bool = False
) -> Path:
    """Synthetic sequences as the .npz they were trained from: `windows` (n, L, C) (zeros past
    each length), `lengths` (n,), `columns` and one array per attribute. `reverse` undoes
    data.reverse: each sequence's first `lengths[i]` steps run forward in time again, like
    the sequences given."""
    path = Path(path)
    x = panel.x.copy()
    steps = np.arange(x.shape[1])[None, :]
    if reverse:
        src = np.clip(panel.lengths[:, None] - 1 - steps, 0, x.shape[1] - 1)
        x = np.take_along_axis(x, src[:, :, None], axis=1)
    x[steps >= panel.lengths[:, None]] = 0.0
    arrays: dict[str, Any] = {"windows": x, "lengths": panel.lengths}
    if codec is not None:
        arrays["columns"] = np.asarray(codec.numeric)
        for a in codec.attributes:
            values = panel.attributes[a.name].to_numpy() if panel.attributes is not None else []
            if a.kind == "category" and a.dtype == "text":
                arrays[a.name] = np.asarray([str(v) for v in values])
            else:  # numbers in the array's own dtype (int32, bool, ...), else int64 / float64
                numbers = np.asarray([float(v) for v in values])
                arrays[a.name] = _typed(numbers, a.dtype, codec.dtypes.get(a.name, ""))
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, **arrays)
    return path


def entity_frame(
    x: np.ndarray,
    columns: Sequence[str],
    state: dict[str, Any],
    entity: str,
    time: str | None,
    reverse: bool = False,
    labels: tuple[str, Sequence[str]] | None = None,
    seed: int = 0,
    lengths: np.ndarray | None = None,
    attributes: pd.DataFrame | None = None,
    codec: PanelCodec | None = None,
) -> pd.DataFrame:
    """Synthetic sequences (n, L, C) as a long-format table with the input's schema: the entity
    column (ids synthetic-0, synthetic-1, ...), the time column regenerated at the learned step
    from start times drawn (seeded) from the real entities' starts, the label column (one label
    per sequence) or the attribute columns, then the channels under their own names: numeric
    ones, and categorical ones decoded to their levels (`codec`), each written as the input
    wrote it (integers stay integers). Sequence i keeps its first `lengths[i]` steps. `reverse`
    undoes data.reverse (the model sees time reversed; the table runs forward)."""
    n, longest, _ = x.shape
    lengths = np.full(n, longest, dtype=np.int64) if lengths is None else np.asarray(lengths)
    kinds = {} if codec is None else codec.kinds
    dtypes = {} if codec is None else codec.dtypes
    if codec is not None:
        numeric, codes = codec.split_channels(x)
        names = list(codec.numeric)
    else:
        numeric, codes, names = x, None, list(columns)
    steps = np.arange(longest)
    real = steps[None, :] < lengths[:, None]  # (n, L) the steps each sequence keeps
    pick = real
    if reverse:  # step k of the table is step len - 1 - k of the model's sequence
        src = np.clip(lengths[:, None] - 1 - steps[None, :], 0, longest - 1)
        numeric = np.take_along_axis(numeric, src[:, :, None], axis=1)
        if codes is not None:
            codes = np.take_along_axis(codes, src[:, :, None], axis=1)
    frame = pd.DataFrame(
        {
            name: _typed(numeric[..., j][pick], kinds.get(name), dtypes.get(name, ""))
            for j, name in enumerate(names)
        }
    )
    if codec is not None and codes is not None:
        for k, (name, levels) in enumerate(codec.categorical):
            frame[name] = _levels(
                np.asarray(levels, dtype=object)[codes[..., k][pick]],
                kinds.get(name),
                dtypes.get(name, ""),
            )
    seq = np.repeat(np.arange(n), lengths)
    if kinds.get(entity) == "int":  # integer ids stay integers: 0, 1, ..., in the input's type
        front: dict[str, Any] = {entity: _fits(seq.astype(np.int64), dtypes.get(entity, ""))}
    else:
        front = {entity: np.asarray([f"synthetic-{i}" for i in range(n)])[seq]}
    if time is not None:
        starts = np.asarray(state["start_times"])
        step = float(state["time_step"])
        first = starts[np.random.default_rng(seed).integers(len(starts), size=n)]
        offsets = steps[None, :].repeat(n, 0)[pick]
        if state.get("time_kind") == "datetime":
            front[time] = _dates(first.astype(np.int64), step, lengths, state)
        else:
            values = first.astype(np.float64)[seq] + step * offsets
            whole = np.all(first == np.round(first)) and step == round(step)
            # times written as whole numbers (epoch seconds, day numbers) stay exact integers
            front[time] = (
                _fits(np.round(values).astype(np.int64), dtypes.get(time, "")) if whole else values
            )
    if labels is not None:
        name = labels[0]  # a label column of numbers (or bools) is written as numbers again
        values = np.asarray(list(labels[1]), dtype=object)[seq]
        front[name] = _levels(values, kinds.get(name), dtypes.get(name, ""))
    if attributes is not None:
        for name in attributes.columns:
            values = attributes[name].to_numpy()[seq]
            kind = kinds.get(name)
            front[name] = (
                _levels(values, kind, dtypes.get(name, ""))
                if values.dtype == object
                else _typed(values, kind, dtypes.get(name, ""))
            )
    for k, (name, values) in enumerate(front.items()):
        frame.insert(k, name, values)
    if codec is not None and codec.schema:  # the input's column order
        order = [c for c in codec.schema if c in frame.columns]
        frame = frame[order + [c for c in frame.columns if c not in order]]
    return frame


def _fits(values: np.ndarray, dtype: str) -> np.ndarray:
    """Whole numbers (ids, times) in the input's integer type when every one fits, else int64:
    ids and times are never clipped."""
    if not dtype or np.dtype(dtype).kind not in "iu" or not len(values):
        return values
    info = np.iinfo(np.dtype(dtype))
    fits = info.min <= values.min() and values.max() <= info.max
    return values.astype(dtype) if fits else values


def _dates(first: np.ndarray, step: float, lengths: np.ndarray, state: dict[str, Any]) -> Any:
    """Each sequence's dates from its first (ns since 1970, UTC): on the calendar for month,
    quarter or year steps (`calendar`: a fixed step drifts off month starts), else at the
    fixed step; in the zone the input was written in (`time_zone`), naive where it had none."""
    zone, calendar = state.get("time_zone"), state.get("calendar")
    if calendar:
        parts = [
            pd.date_range(pd.Timestamp(int(f), unit="ns"), periods=int(n), freq=calendar)
            for f, n in zip(first.tolist(), lengths.tolist())
        ]
        dates = pd.DatetimeIndex(np.concatenate([p.asi8 for p in parts]).astype("datetime64[ns]"))
    else:
        offsets = np.concatenate([np.arange(n) for n in lengths.tolist()])
        ns = np.repeat(first, lengths) + np.round(step * offsets).astype(np.int64)
        dates = pd.DatetimeIndex(pd.to_datetime(ns, unit="ns"))
    return dates.tz_localize("UTC").tz_convert(zone) if zone else dates


def _typed(values: np.ndarray, kind: str | None, dtype: str = "") -> np.ndarray:
    """Numbers as the input wrote them: rounded integers for an int column, in the input's own
    dtype where it had one (`dtype`: a Parquet int32 stays int32, a bool column bool)."""
    if dtype:
        return as_dtype(values, dtype)
    if kind == "int" and _int64_safe(values):
        return np.round(values).astype(np.int64)
    return values.astype(np.float64)  # whole numbers beyond int64 (counters near 1e19) stay floats


def _int64_safe(values: Any) -> bool:
    """Every value finite and inside int64 (missing values aside)."""
    x = np.asarray(values, dtype=np.float64)
    x = x[~np.isnan(x)]
    return bool(np.isfinite(x).all() and (np.abs(x) < 2.0**63).all())


def as_dtype(values: np.ndarray, dtype: str) -> np.ndarray:
    """Synthetic numbers in an input column's dtype: bools at 0.5, integers rounded and kept
    inside the type's range (an int8 column gets no wrapped-around 300), floats cast."""
    dt = np.dtype(dtype)
    x = np.asarray(values, dtype=np.float64)
    if dt.kind == "b":
        return x >= 0.5
    if dt.kind in "iu":
        info = np.iinfo(dt)
        # float64 cannot hold 2**63 - 1: clip to the largest float below the bound, so 64-bit
        # types clip instead of wrapping around to their minimum
        hi = np.nextafter(float(info.max) + 1.0, -np.inf) if dt.itemsize == 8 else info.max
        out = np.clip(np.round(np.nan_to_num(x, nan=0.0)), info.min, hi)
        return out.astype(dt)
    return x.astype(dt)


def _levels(values: np.ndarray, kind: str | None, dtype: str = "") -> Any:
    """Category levels (text) as the input wrote them: numbers for a column of numbers, in the
    input's dtype where it had one (a missing level makes an int or bool column pandas'
    nullable one: Int32, boolean), the blank level as missing."""
    if kind in ("int", "float"):
        numbers = pd.to_numeric(pd.Series(values, dtype=object).replace("", None))
        if dtype:
            if not numbers.isna().any():
                return as_dtype(numbers.to_numpy(dtype=np.float64), dtype)
            dt = np.dtype(dtype)
            if dt.kind == "f":
                return numbers.astype(dt)
            nullable = "boolean" if dt.kind == "b" else dt.name.capitalize().replace("Uint", "UInt")
            return numbers.astype(nullable)
        if kind == "int" and _int64_safe(numbers.to_numpy(dtype=np.float64, na_value=np.nan)):
            return numbers.astype("Int64")
        return numbers.astype(np.float64)
    return pd.Series(values, dtype=object).replace("", None).to_numpy()


def write_frame(frame: Any, path: str | Path) -> Path:
    """Write a table atomically as .csv or .parquet (by suffix)."""
    path = check_entity_path(path)
    with atomic_path(path) as tmp:
        if path.suffix.lower() == ".parquet":
            frame.to_parquet(tmp, index=False)
        else:
            # 10 digits: values in the millions keep their decimals (float32's 7 did not)
            frame.to_csv(tmp, index=False, float_format=CSV_FLOAT)
    return path
