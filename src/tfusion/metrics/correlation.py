"""Correlational score (Diffusion-TS): how far the feature-feature correlations of two sets differ.

Diffusion-TS computes it with `CrossCorrelLoss` (lags = 1, i.e. lag 0 only): each set is
standardised per feature with its own mean and (unbiased) standard deviation over all windows and
time steps, the product of every feature pair is averaged over time within each window and then
over windows, and the score is the sum over the lower triangle of the pair matrix, diagonal
included (`torch.tril_indices(C, C)`), of |corr_synthetic - corr_real|, divided by 10.

Because the standardisation is global, the per-window average followed by the mean over windows
equals the global correlation over all (window, time) points times (M - 1) / M, M = n L, the factor
coming from the unbiased standard deviation; we keep it so numbers match the published code. The
diagonal terms are that same factor in both sets, so they add ~0 (exactly 0 when n L is equal).
"""

from __future__ import annotations

import numpy as np

from tfusion.metrics.distribution import check_pair


def cross_correlation(windows: np.ndarray) -> np.ndarray:
    """Lag-0 cross-correlation matrix (C, C) of windows (n, L, C) as Diffusion-TS computes it."""
    x = np.asarray(windows, dtype=np.float64)
    mean = x.mean(axis=(0, 1))
    std = x.std(axis=(0, 1), ddof=1)
    # a constant feature has no correlation with anything (the reference code would give NaN)
    std = np.where(std > 0, std, np.inf)
    z = ((x - mean) / std).reshape(-1, x.shape[2])  # (n L, C)
    # mean over time within each window, then over windows, of z_i z_j: with windows of equal
    # length this is the mean over all n L points
    return z.T @ z / len(z)


def correlational_score(real: np.ndarray, synthetic: np.ndarray) -> float:
    """Σ over feature pairs i >= j of |corr_synthetic - corr_real| / 10 (0 = same correlations)."""
    check_pair(real, synthetic)
    diff = np.abs(cross_correlation(synthetic) - cross_correlation(real))
    return float(np.tril(diff).sum() / 10.0)


def correlational_draws(
    real: np.ndarray, synthetic: np.ndarray, seed: int = 0, draws: int = 5
) -> list[float]:
    """Diffusion-TS's protocol: `draws` times, n_real // draws windows drawn with replacement
    from each set (seeded), scored with `correlational_score`; the published score is their
    mean."""
    check_pair(real, synthetic)
    rng = np.random.default_rng(seed)
    size = max(2, len(real) // draws)
    out = []
    for _ in range(draws):
        r = real[rng.integers(len(real), size=size)]
        s = synthetic[rng.integers(len(synthetic), size=size)]
        out.append(correlational_score(r, s))
    return out
