"""Pictures of real vs synthetic windows: PCA, t-SNE, sample overlays, histograms, ACF."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from sklearn.decomposition import PCA
from sklearn.manifold import TSNE

from tfusion.io import atomic_path
from tfusion.metrics.distribution import autocorrelation

REAL, SYN = "tab:blue", "tab:red"


def _save(fig: plt.Figure, path: Path) -> Path:
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
    return path


def _pick(x: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    return x if len(x) <= k else x[rng.choice(len(x), k, replace=False)]


def plot_embedding(
    real: np.ndarray,
    synthetic: np.ndarray,
    path: Path,
    method: str = "pca",
    seed: int = 0,
    max_points: int = 1000,
) -> Path:
    """2-D PCA or t-SNE of windows averaged over features (TimeGAN's visual protocol)."""
    rng = np.random.default_rng(seed)
    r = _pick(real, max_points, rng).mean(axis=2)  # (n, L)
    s = _pick(synthetic, max_points, rng).mean(axis=2)
    if method == "pca":
        pca = PCA(n_components=2, random_state=seed).fit(r)
        er, es = pca.transform(r), pca.transform(s)
    else:
        both = np.concatenate([r, s])
        perplexity = float(min(40, max(5, (len(both) - 1) // 3)))
        emb = TSNE(2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(both)
        er, es = emb[: len(r)], emb[len(r) :]
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.scatter(er[:, 0], er[:, 1], s=6, alpha=0.4, c=REAL, label="real")
    ax.scatter(es[:, 0], es[:, 1], s=6, alpha=0.4, c=SYN, label="synthetic")
    ax.set_title(f"{'PCA' if method == 'pca' else 't-SNE'}: real vs synthetic")
    ax.legend()
    return _save(fig, path)


def plot_sequences(
    real: np.ndarray,
    synthetic: np.ndarray,
    columns: Sequence[str],
    path: Path,
    k: int = 3,
    seed: int = 0,
    max_features: int = 6,
) -> Path:
    """A few real and synthetic windows per feature, one panel per feature."""
    rng = np.random.default_rng(seed)
    c = min(real.shape[2], max_features)
    fig, axes = plt.subplots(c, 2, figsize=(10, 1.8 * c + 0.6), sharex=True, squeeze=False)
    r, s = _pick(real, k, rng), _pick(synthetic, k, rng)
    for j in range(c):
        lo = min(real[:, :, j].min(), synthetic[:, :, j].min())
        hi = max(real[:, :, j].max(), synthetic[:, :, j].max())
        for ax, x, colour in ((axes[j, 0], r, REAL), (axes[j, 1], s, SYN)):
            ax.plot(x[:, :, j].T, color=colour, alpha=0.7, lw=1)
            ax.set_ylim(lo, hi)
        axes[j, 0].set_ylabel(str(columns[j])[:14], fontsize=8)
    axes[0, 0].set_title("real windows")
    axes[0, 1].set_title("synthetic windows")
    return _save(fig, path)


def plot_histograms(
    real: np.ndarray, synthetic: np.ndarray, columns: Sequence[str], path: Path, bins: int = 50
) -> Path:
    """Per-feature value histograms, real vs synthetic."""
    c = real.shape[2]
    cols = min(c, 4)
    rows = (c + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.4 * rows), squeeze=False)
    for j in range(rows * cols):
        ax = axes[j // cols, j % cols]
        if j >= c:
            ax.axis("off")
            continue
        lo, hi = real[:, :, j].min(), real[:, :, j].max()
        edges = np.linspace(lo, hi if hi > lo else lo + 1, bins + 1)
        ax.hist(real[:, :, j].ravel(), edges, density=True, alpha=0.5, color=REAL, label="real")
        ax.hist(
            np.clip(synthetic[:, :, j].ravel(), lo, hi),
            edges,
            density=True,
            alpha=0.5,
            color=SYN,
            label="synthetic",
        )
        ax.set_title(str(columns[j])[:20], fontsize=9)
    axes[0, 0].legend(fontsize=7)
    return _save(fig, path)


def plot_autocorrelation(
    real: np.ndarray, synthetic: np.ndarray, columns: Sequence[str], path: Path
) -> Path:
    """Mean within-window autocorrelation by lag, real (solid) vs synthetic (dashed)."""
    max_lag = min(real.shape[1] - 1, 64)
    fig, ax = plt.subplots(figsize=(6, 3.5))
    if max_lag >= 1:
        ar, as_ = autocorrelation(real, max_lag), autocorrelation(synthetic, max_lag)
        lags = np.arange(1, max_lag + 1)
        for j in range(min(real.shape[2], 8)):
            line = ax.plot(lags, ar[:, j], lw=1.2, label=str(columns[j])[:12])[0]
            ax.plot(lags, as_[:, j], lw=1.2, ls="--", color=line.get_color())
    ax.set_xlabel("lag")
    ax.set_ylabel("autocorrelation")
    ax.set_title("ACF: real (solid) vs synthetic (dashed)")
    ax.legend(fontsize=7, ncol=2)
    return _save(fig, path)
