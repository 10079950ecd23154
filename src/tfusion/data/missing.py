"""Missing values in a loaded series: sentinels, too-empty columns, and the policy for the rest
(drop the rows, interpolate in time within each sequence, refuse, or keep them as NaN)."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np

from tfusion.data.readers import RawTable
from tfusion.errors import DataError

MISSING_POLICIES = ("drop", "interpolate", "error", "keep")  # keep: NaN stays (to impute)


def apply_missing(
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
        need_rows(int(ok.sum()), label, " after dropping rows with missing values")
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


def need_rows(n: int, label: str, why: str) -> None:
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
