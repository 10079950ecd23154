"""Files of many sequences: the (N, L, C) array of a .npy or .npz, with the per-sequence labels,
lengths (padded sequences), attributes and column names an .npz may hold beside it.

Only the arrays' headers are read first, so a file that holds a series (or is broken) is left to
`readers.read_raw`, which reads or reports it.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tfusion.data.readers import first_line
from tfusion.errors import DataError

WINDOW_KEYS = ("windows", "x", "data")  # the (N, L, C) array of an .npz holding several


@dataclass(frozen=True, eq=False)
class SequenceArray:
    """N independent sequences (N, L, C) read from .npy/.npz, with optional per-sequence labels
    and column names."""

    values: np.ndarray  # (N, L, C) float64
    labels: np.ndarray | None  # (N,) object: each sequence's class as text
    columns: tuple[str, ...] | None
    label: str  # display name for messages
    lengths: np.ndarray | None = None  # (N,) int: sequence k is values[k, :lengths[k]]
    attributes: dict[str, np.ndarray] = field(default_factory=dict)  # other (N,) arrays


def read_sequences(path: Path) -> SequenceArray | None:
    """The (N, L, C) array of a .npy, or of an .npz (its only array, or `windows`/`x`/`data`
    beside `labels` (N,) and `columns` (C,)); None when the file holds no such array (a series,
    or a broken file: `read_raw` reads or reports those). Only array headers are read first."""
    suffix = path.suffix.lower()
    if suffix == ".npy":
        try:
            peek = np.load(path, mmap_mode="r", allow_pickle=False)
        except Exception:
            return None
        if peek.ndim != 3:
            return None
        del peek
        values = _real_array(np.load(path, allow_pickle=False), str(path))
        return SequenceArray(values, None, None, str(path))
    if suffix != ".npz":
        return None
    shapes = _npz_shapes(path)
    if not shapes:
        return None
    if len(shapes) == 1:
        key = next(iter(shapes))
    else:
        named = [k for k in WINDOW_KEYS if k in shapes]
        if len(named) != 1 or len(shapes[named[0]]) != 3:
            if not any(len(s) == 3 for s in shapes.values()):
                return None  # several series-like arrays: read_raw lists them
            raise DataError(
                f"{path} holds arrays {', '.join(f'{k} {v}' for k, v in shapes.items())}; "
                "name the (N, L, C) sequences windows, x or data (one of them)"
            )
        key = named[0]
    if len(shapes[key]) != 3:
        return None
    n_seq = shapes[key][0]
    others = set(shapes) - {key, "labels", "columns", "lengths"}
    extra = sorted(k for k in others if shapes[k] != (n_seq,))
    if extra:
        raise DataError(
            f"{path} holds unexpected arrays {', '.join(extra)} beside {key!r}; an .npz of "
            "sequences holds the (N, L, C) array, optional labels (N,), lengths (N,), "
            "attribute arrays (N,) and columns (C,)"
        )
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in shapes}
    except Exception as e:
        raise DataError(f"cannot read {path} as a NumPy file ({first_line(e)})") from e
    label = f"{path}:{key}"
    values = _real_array(arrays[key], label)
    n, _, c = values.shape
    labels = None
    if "labels" in arrays:
        lab = arrays["labels"]
        if lab.shape != (n,) or not (
            np.issubdtype(lab.dtype, np.number) or lab.dtype.kind in "USb"
        ):
            raise DataError(
                f"labels of {path} are {lab.dtype} {lab.shape}; expected one int or string per "
                f"sequence, shape ({n},)"
            )
        if np.iscomplexobj(lab) or (lab.dtype.kind == "f" and not np.isfinite(lab).all()):
            raise DataError(f"labels of {path} hold non-finite or complex values; use ints")
        labels = np.asarray([_label_text(v) for v in lab.tolist()], dtype=object)
    columns = None
    if "columns" in arrays:
        cols = arrays["columns"]
        if cols.shape != (c,):
            raise DataError(
                f"columns of {path} has shape {cols.shape}; expected one name per feature ({c},)"
            )
        columns = tuple(" ".join(str(v).splitlines()) for v in cols.tolist())
    lengths = None
    if "lengths" in arrays:
        lens = arrays["lengths"]
        whole = np.issubdtype(lens.dtype, np.integer) or (
            lens.dtype.kind == "f" and np.isfinite(lens).all() and (lens == np.round(lens)).all()
        )
        if lens.shape != (n,) or not whole or (lens < 1).any() or (lens > values.shape[1]).any():
            raise DataError(
                f"lengths of {path} must be one whole number per sequence, 1 to "
                f"{values.shape[1]} (the padded length), shape ({n},); got {lens.dtype} "
                f"{lens.shape}"
            )
        lengths = lens.astype(np.int64)
    attributes = {}
    for k in sorted(others):
        a = arrays[k]
        if not (np.issubdtype(a.dtype, np.number) or a.dtype.kind in "USb") or np.iscomplexobj(a):
            raise DataError(f"attribute array {k!r} of {path} is {a.dtype}; use numbers or text")
        attributes[k] = a
    return SequenceArray(values, labels, columns, label, lengths, attributes)


def _label_text(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace").strip()
    if isinstance(value, float):
        return f"{value:g}"
    return str(value).strip()


def _real_array(array: np.ndarray, label: str) -> np.ndarray:
    if not (np.issubdtype(array.dtype, np.number) or array.dtype == bool) or np.iscomplexobj(array):
        raise DataError(f"{label} holds dtype {array.dtype}; expected real numbers")
    if 0 in array.shape:
        raise DataError(f"{label} holds an empty array {array.shape}; expected (N, L, C)")
    return array.astype(np.float64)


def _npz_shapes(path: Path) -> dict[str, tuple[int, ...]] | None:
    """Name -> shape of every array of an .npz, from the headers only; None if unreadable."""
    try:
        shapes = {}
        with zipfile.ZipFile(path) as z:
            for name in z.namelist():
                with z.open(name) as f:
                    version = np.lib.format.read_magic(f)
                    if version == (1, 0):
                        shape, _, _ = np.lib.format.read_array_header_1_0(f)
                    else:
                        shape, _, _ = np.lib.format.read_array_header_2_0(f)
                shapes[name.removesuffix(".npy")] = tuple(shape)
        return shapes
    except Exception:
        return None
