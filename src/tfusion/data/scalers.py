"""Per-feature scaling of arrays (..., C): min-max to [-1, 1], standardisation, none, or unit.

A `Scaler` is fitted on the training part only and saved with the run (`to_dict`). Every
leading axis is reduced when fitting, so series (N, C) and windows (n, L, C) both work.
A constant feature (max == min) has scale 0 in the saved state: it maps to 0 (x - value) and
back to exactly its value, never dividing by zero. `unit` fits nothing: values already in
[0, 1] become 2x - 1, as TransFusion feeds its sines (ddpm.py, normalize_to_neg_one_to_one).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from tfusion.errors import ConfigError, DataError

KINDS = ("minmax", "standard", "none", "unit")


@dataclass(frozen=True, eq=False)
class Scaler:
    """y = 2 (x - min) / (max - min) - 1 (minmax), (x - mean) / std (standard), x (none) or
    2x - 1 (unit: minmax with min 0 and max 1, whatever the data)."""

    kind: str
    offset: np.ndarray  # (C,) min (minmax), mean (standard), 0 (none, unit); the value if constant
    scale: np.ndarray  # (C,) max - min (minmax), std (standard), 1 (none, unit); 0 if constant

    @property
    def features(self) -> int:
        """Number of features C."""
        return len(self.offset)

    @classmethod
    def fit(cls, x: np.ndarray, kind: str = "minmax") -> Scaler:
        """Fit per-feature statistics over all leading axes of x (..., C)."""
        return cls.fit_chunked(
            np.asarray(x).reshape(-1, np.shape(x)[-1] if np.ndim(x) else 0), kind
        )

    @classmethod
    def fit_chunked(cls, x: np.ndarray, kind: str = "minmax", chunk: int = 1 << 20) -> Scaler:
        """Fit on the rows of x (M, C) read `chunk` rows at a time (x may be a memory map).

        Two passes (min / max / mean, then the variance about the mean); memory is O(chunk x C).
        """
        if kind not in KINDS:
            raise ConfigError(f"unknown data.scaler {kind!r}; choose one of {KINDS}")
        if x.ndim != 2 or x.shape[-1] == 0 or x.shape[0] == 0:
            raise DataError(f"cannot fit a scaler on an empty array of shape {x.shape}")
        blocks = [slice(i, min(i + chunk, len(x))) for i in range(0, len(x), chunk)]
        lo = np.full(x.shape[1], np.inf)
        hi = np.full(x.shape[1], -np.inf)
        for b in blocks:
            part = np.asarray(x[b], dtype=np.float64)
            if not np.isfinite(part).all():
                raise DataError(
                    "cannot fit a scaler on NaN or infinite values; clean the data first"
                )
            lo, hi = np.minimum(lo, part.min(axis=0)), np.maximum(hi, part.max(axis=0))
        constant = lo == hi
        if kind == "minmax":
            with np.errstate(over="ignore"):
                offset, scale = lo, hi - lo
        elif kind == "standard":
            # moments of x / m times m: no overflow in sums or squares near 1e308
            m = np.maximum(np.abs(lo), np.abs(hi))
            m = np.where(m > 0, m, 1.0)
            total = sum(np.asarray(x[b], dtype=np.float64).sum(axis=0) / m for b in blocks)
            mean = total / len(x)
            sq = sum(
                ((np.asarray(x[b], dtype=np.float64) / m - mean) ** 2).sum(axis=0) for b in blocks
            )
            offset, scale = mean * m, np.sqrt(sq / len(x)) * m
        else:
            if kind == "unit" and (lo.min() < 0 or hi.max() > 1):
                j = int(np.flatnonzero((lo < 0) | (hi > 1))[0])
                raise DataError(
                    f"data.scaler=unit needs values in [0, 1]; feature {j} spans {lo[j]:g} to "
                    f"{hi[j]:g}: use data.scaler=minmax"
                )
            offset, scale = np.zeros_like(lo), np.ones_like(lo)
            constant = np.zeros_like(constant)
        if not np.isfinite(scale).all():
            j = int(np.flatnonzero(~np.isfinite(scale))[0])
            raise DataError(
                f"feature {j} spans more than float64 can hold ({lo[j]:g} to {hi[j]:g}); "
                "divide that column by a large constant before training"
            )
        # a constant feature is stored as (value, 0); the mean of equal floats may differ from them
        offset = np.where(constant, lo, offset)
        scale = np.where(constant, 0.0, scale)
        return cls(kind, offset, scale)

    def transform(self, x: np.ndarray) -> np.ndarray:
        """Scale x (..., C); float32 stays float32, anything else becomes float64."""
        x64, dtype = self._check(x)
        const = self.scale == 0
        safe = np.where(const, 1.0, self.scale)
        if self.kind in ("minmax", "unit"):
            # 2 (x - min) / range - 1 maps min and max to exactly -1 and 1
            y = np.where(const, x64 - self.offset, 2.0 * (x64 - self.offset) / safe - 1.0)
        else:
            y = (x64 - self.offset) / safe
        return y.astype(dtype, copy=False)

    def inverse_transform(self, y: np.ndarray) -> np.ndarray:
        """Back to original units: the inverse of `transform` (float64 when the units do not fit
        the input's float32)."""
        y64, dtype = self._check(y)
        const = self.scale == 0
        if self.kind in ("minmax", "unit"):
            x = np.where(const, y64 + self.offset, (y64 + 1.0) / 2.0 * self.scale + self.offset)
        else:
            x = np.where(const, y64 + self.offset, y64 * self.scale + self.offset)
        with np.errstate(over="ignore", under="ignore"):
            out = x.astype(dtype, copy=False)
            lost = ~np.isfinite(out) | ((out == 0) & (x != 0))
        # units beyond float32 (|x| > 3e38 or < 1e-38): keep float64 rather than inf or 0
        return x if lost.any() else out

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict (kind, offset, scale)."""
        return {
            "kind": self.kind,
            "offset": [float(v) for v in self.offset],
            "scale": [float(v) for v in self.scale],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Scaler:
        """Rebuild a scaler saved with `to_dict`."""
        try:
            kind = data["kind"]
            offset = np.asarray(data["offset"], dtype=np.float64)
            scale = np.asarray(data["scale"], dtype=np.float64)
        except (KeyError, TypeError, ValueError) as e:
            raise DataError(f"invalid scaler state ({e!r}); re-create data_state.json") from e
        ok = (
            kind in KINDS
            and offset.ndim == 1
            and offset.shape == scale.shape
            and len(offset) > 0
            and np.isfinite(offset).all()
            and np.isfinite(scale).all()
            and (scale >= 0).all()
        )
        if not ok:
            raise DataError(
                f"invalid scaler state (kind {kind!r}, {offset.shape} offsets, {scale.shape} "
                "scales); re-create data_state.json"
            )
        return cls(kind, offset, scale)

    def _check(self, x: np.ndarray) -> tuple[np.ndarray, np.dtype]:
        x = np.asarray(x)
        if x.ndim < 1 or x.shape[-1] != self.features:
            raise DataError(
                f"the scaler was fitted on {self.features} features but got an array of shape "
                f"{x.shape}; pass (..., {self.features}) arrays"
            )
        dtype = np.dtype(np.float32) if x.dtype == np.float32 else np.dtype(np.float64)
        return x.astype(np.float64, copy=False), dtype
