"""Trivial generators that a real model must beat."""

from __future__ import annotations

import numpy as np


def gaussian_windows(real: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """i.i.d. Gaussian noise with the real data's per-feature mean and std, (n, L, C)."""
    rng = np.random.default_rng(seed)
    mean = real.mean(axis=(0, 1))
    std = real.std(axis=(0, 1))
    return (rng.standard_normal((n, *real.shape[1:])) * std + mean).astype(np.float32)


def shuffled_windows(real: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """Real windows with their time steps randomly permuted: right values, wrong order."""
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(real), size=n)
    out = real[idx].copy()
    for i in range(n):
        out[i] = out[i][rng.permutation(out.shape[1])]
    return out.astype(np.float32)
