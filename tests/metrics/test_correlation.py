"""Correlational score: golden values, the Diffusion-TS formulation, real vs decorrelated."""

import numpy as np
import pytest
import torch

from tfusion.data import sine_windows
from tfusion.errors import DataError
from tfusion.metrics.correlation import correlational_score, cross_correlation


def correlated_sines(n: int, seed: int) -> np.ndarray:
    """Sines with mixed features, so that feature pairs are clearly correlated."""
    mix = np.array([[1.0, 0.8, 0.0, -0.5], [0.0, 0.6, 0.7, 0.0], [0.0, 0.0, 0.7, 0.9]])
    return sine_windows(n, 24, 3, seed=seed) @ mix  # (n, 24, 4)


def cacf_reference(x: np.ndarray) -> torch.Tensor:
    """Diffusion-TS's `cacf_torch(x, 1).mean(0)[0]`, written out: lower-triangle pairs, lag 0."""
    t = torch.from_numpy(x)
    rows, cols = torch.tril_indices(x.shape[2], x.shape[2])
    t = (t - t.mean((0, 1), keepdim=True)) / t.std((0, 1), keepdim=True)
    per_window = (t[..., rows] * t[..., cols]).mean(1)  # (n, pairs): mean over time per window
    return per_window.mean(0)


def test_matches_the_diffusion_ts_formulation():
    a, b = correlated_sines(300, 0), correlated_sines(200, 1)
    b[:, :, 1] = np.random.default_rng(0).normal(size=b.shape[:2])
    reference = (cacf_reference(b) - cacf_reference(a)).abs().sum().item() / 10
    assert correlational_score(a, b) == pytest.approx(reference, rel=1e-10)


def test_hand_made_known_value():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(50, 20, 1))
    real = np.concatenate([x, x], axis=2)  # feature 1 = feature 0: correlation +1
    synthetic = np.concatenate([x, -x], axis=2)  # feature 1 = -feature 0: correlation -1
    m = 50 * 20  # the unbiased std makes each "correlation" (m - 1) / m
    assert cross_correlation(real)[1, 0] == pytest.approx((m - 1) / m, rel=1e-12)
    # only the pair (1, 0) differs, by 2 (m - 1) / m; the diagonal terms cancel
    assert correlational_score(real, synthetic) == pytest.approx(0.2 * (m - 1) / m, rel=1e-12)
    flat = real.reshape(-1, 2)
    np.testing.assert_allclose(
        cross_correlation(real), np.corrcoef(flat.T) * (m - 1) / m, rtol=1e-12
    )


def test_real_vs_real_near_zero_decorrelated_large():
    real, other = correlated_sines(600, 0), correlated_sines(600, 1)
    rng = np.random.default_rng(2)
    # each feature's windows permuted independently: same marginals, less joint structure (the
    # time trend all sines share keeps some correlation: 0.14 here against 0.013 for real data)
    decorrelated = np.stack([other[rng.permutation(600), :, j] for j in range(4)], axis=2)
    same = correlational_score(real, other)
    broken = correlational_score(real, decorrelated)
    assert same < 0.05
    assert broken > 0.1 and broken > 5 * same, (same, broken)


def test_constant_feature_scores_zero_correlation():
    x = correlated_sines(100, 0)
    x[:, :, 2] = 0.5
    c = cross_correlation(x)
    assert np.isfinite(c).all() and np.all(c[2] == 0) and np.all(c[:, 2] == 0)


def test_order_invariant_and_checked():
    a, b = correlated_sines(200, 0), correlated_sines(150, 1)
    perm = np.random.default_rng(0).permutation(150)
    s1 = correlational_score(a, b)
    s2 = correlational_score(a[::-1].copy(), b[perm])
    assert s1 == pytest.approx(s2, rel=1e-9, abs=1e-12)
    with pytest.raises(DataError):
        correlational_score(a, b[:, :, :2])


def test_draws_follow_the_published_protocol():
    """Diffusion-TS scores 5 draws of n_real // 5 windows taken with replacement from each set;
    their sampling noise is a floor the whole-set score does not have."""
    from tfusion.metrics.correlation import correlational_draws

    a, b = correlated_sines(500, 0), correlated_sines(500, 1)  # one process: a perfect generator
    draws = correlational_draws(a, b, seed=3)
    rng = np.random.default_rng(3)  # the same draws, written out
    want = []
    for _ in range(5):
        ri, si = rng.integers(500, size=100), rng.integers(500, size=100)
        want.append(correlational_score(a[ri], b[si]))
    assert draws == want
    assert np.mean(draws) > 1.5 * correlational_score(a, b)  # the floor of 100-window draws
    assert correlational_draws(a, b, seed=3) == draws and correlational_draws(a, b, 4) != draws
    with pytest.raises(DataError):
        correlational_draws(a, b[:, :, :2])
