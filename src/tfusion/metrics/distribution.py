"""Distribution-level distances between real and synthetic windows (n, L, C).

All inputs are expected in the same units; `normalise` maps both with the real data's per-feature
min-max to [0, 1] (the TimeGAN evaluation protocol) so the numbers are comparable across data sets.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial.distance import jensenshannon
from scipy.stats import wasserstein_distance

from tfusion.errors import DataError


def check_pair(real: np.ndarray, synthetic: np.ndarray) -> None:
    """Both (n, L, C), same L and C, finite; otherwise a one-line DataError."""
    for name, x in (("real", real), ("synthetic", synthetic)):
        if x.ndim != 3:
            raise DataError(f"{name} windows must have shape (n, L, C), got {x.shape}")
        if not np.isfinite(x).all():
            bad = int((~np.isfinite(x)).sum())
            raise DataError(
                f"{name} windows contain {bad} NaN/inf values; remove or fill them first"
            )
    if real.shape[1:] != synthetic.shape[1:]:
        raise DataError(
            f"real windows are {real.shape[1:]} (L, C) but synthetic are {synthetic.shape[1:]}; "
            "generate with the same window length and features"
        )


def normalise(real: np.ndarray, synthetic: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Min-max both sets with the real data's per-feature range (constant features -> 0)."""
    lo = real.min(axis=(0, 1))
    span = real.max(axis=(0, 1)) - lo
    span = np.where(span > 0, span, 1.0)
    return (real - lo) / span, (synthetic - lo) / span


def _subsample(x: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    return x if x.size <= k else rng.choice(x, size=k, replace=False)


def marginal_distances(
    real: np.ndarray,
    synthetic: np.ndarray,
    bins: int = 50,
    seed: int = 0,
    max_values: int = 200_000,
) -> dict[str, np.ndarray]:
    """Per-feature Wasserstein-1 and Jensen-Shannon divergence (base 2) of the value histograms.

    Also the Wasserstein-1 distance of one-step increments (x[t+1] - x[t]), which a generator
    that has the right values in the wrong order cannot fake. Inputs should be normalised.
    """
    check_pair(real, synthetic)
    rng = np.random.default_rng(seed)
    c = real.shape[2]
    w1, jsd, inc = np.zeros(c), np.zeros(c), np.zeros(c)
    for j in range(c):
        r = _subsample(real[:, :, j].ravel(), max_values, rng)
        s = _subsample(synthetic[:, :, j].ravel(), max_values, rng)
        w1[j] = wasserstein_distance(r, s)
        lo, hi = float(r.min()), float(r.max())
        if hi <= lo:
            hi = lo + 1e-9
        edges = np.linspace(lo, hi, bins + 1)
        hr = np.histogram(np.clip(r, lo, hi), edges)[0] + 1e-12
        hs = np.histogram(np.clip(s, lo, hi), edges)[0] + 1e-12
        jsd[j] = jensenshannon(hr, hs, base=2) ** 2
        dr = _subsample(np.diff(real[:, :, j], axis=1).ravel(), max_values, rng)
        ds = _subsample(np.diff(synthetic[:, :, j], axis=1).ravel(), max_values, rng)
        inc[j] = wasserstein_distance(dr, ds) if dr.size and ds.size else 0.0
    return {"wasserstein": w1, "jsd": jsd, "increment_wasserstein": inc}


def autocorrelation(x: np.ndarray, max_lag: int) -> np.ndarray:
    """Mean over windows of each window's autocorrelation, (max_lag, C), lags 1..max_lag."""
    xc = x - x.mean(axis=1, keepdims=True)
    denom = (xc**2).sum(axis=1)  # (n, C)
    out = np.zeros((max_lag, x.shape[2]))
    valid = denom > 1e-12
    for k in range(1, max_lag + 1):
        num = (xc[:, k:] * xc[:, :-k]).sum(axis=1)
        r = np.where(valid, num / np.where(valid, denom, 1.0), np.nan)
        out[k - 1] = np.nanmean(r, axis=0) if np.isfinite(r).any() else 0.0
    return np.nan_to_num(out)


def autocorrelation_distance(
    real: np.ndarray, synthetic: np.ndarray, max_lag: int | None = None
) -> np.ndarray:
    """Per-feature mean |ACF_real - ACF_synthetic| over lags 1..max_lag (default min(L-1, 64))."""
    check_pair(real, synthetic)
    max_lag = max_lag or min(real.shape[1] - 1, 64)
    if max_lag < 1:
        return np.zeros(real.shape[2])
    return np.abs(autocorrelation(real, max_lag) - autocorrelation(synthetic, max_lag)).mean(axis=0)


def distribution_scores(real: np.ndarray, synthetic: np.ndarray, seed: int = 0) -> dict[str, float]:
    """The headline distances (means over features) of two window sets, normalised first."""
    check_pair(real, synthetic)
    r, s = normalise(real.astype(np.float64), synthetic.astype(np.float64))
    m = marginal_distances(r, s, seed=seed)
    return {
        "marginal_wasserstein": float(m["wasserstein"].mean()),
        "marginal_jsd": float(m["jsd"].mean()),
        "increment_wasserstein": float(m["increment_wasserstein"].mean()),
        "autocorrelation_distance": float(autocorrelation_distance(r, s).mean()),
    }
