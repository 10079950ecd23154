"""Fréchet distance golden values and Context-FID invariants (small encoder, L = 24)."""

import numpy as np
import pytest
import torch

from tfusion.data import sine_windows
from tfusion.errors import DataError
from tfusion.metrics import fid
from tfusion.metrics.baselines import gaussian_windows
from tfusion.metrics.fid import (
    _Block,
    _contrast,
    context_fid,
    embed_windows,
    frechet_distance,
    gaussian_stats,
    train_encoder,
)

# a narrow, shallow encoder (same architecture) keeps these tests at a few seconds
SMALL = dict(hidden=16, output=32, depth=4, iterations=100)


@pytest.fixture(scope="module")
def real():
    return sine_windows(400, 24, 3, seed=0)


@pytest.fixture(scope="module")
def encoder(real):
    return train_encoder(real, seed=0, **SMALL)


def test_frechet_diagonal_closed_form():
    rng = np.random.default_rng(0)
    mu1, mu2 = rng.normal(size=5), rng.normal(size=5)
    s1, s2 = rng.uniform(0.1, 3, 5), rng.uniform(0.1, 3, 5)
    expected = ((mu1 - mu2) ** 2).sum() + (s1 + s2 - 2 * np.sqrt(s1 * s2)).sum()
    assert frechet_distance(mu1, np.diag(s1), mu2, np.diag(s2)) == pytest.approx(expected, 1e-10)


def test_frechet_full_covariance_closed_form():
    # cov2 = a cov1 commutes with cov1: tr (cov1 cov2)^½ = √a tr cov1
    rng = np.random.default_rng(1)
    a = rng.normal(size=(6, 6))
    cov1, scale = a @ a.T + 0.1 * np.eye(6), 2.5
    mu1, mu2 = rng.normal(size=6), rng.normal(size=6)
    expected = ((mu1 - mu2) ** 2).sum() + (1 - np.sqrt(scale)) ** 2 * np.trace(cov1)
    got = frechet_distance(mu1, cov1, mu2, scale * cov1)
    assert got == pytest.approx(expected, 1e-8)


def test_frechet_one_dimensional_and_singular():
    assert frechet_distance(np.array([1.0]), [[4.0]], np.array([3.0]), [[1.0]]) == pytest.approx(5)
    # rank-deficient covariances (the zero direction contributes nothing)
    got = frechet_distance(np.zeros(2), np.diag([1.0, 0.0]), np.zeros(2), np.diag([4.0, 0.0]))
    assert got == pytest.approx(1.0, abs=1e-6)


def test_frechet_fewer_samples_than_dimensions():
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(20, 50)), rng.normal(size=(20, 50)) + 1.0
    same = frechet_distance(*gaussian_stats(x), *gaussian_stats(x))
    diff = frechet_distance(*gaussian_stats(x), *gaussian_stats(y))
    assert np.isfinite(diff) and same < 1e-4 * diff
    assert diff > 50  # the mean shift alone contributes 50


def test_frechet_retries_with_eps_when_the_root_fails(monkeypatch):
    calls, exact = [], fid._sqrtm

    def flaky(a: np.ndarray) -> np.ndarray:  # the first root is non-finite, as for a singular input
        calls.append(a)
        return np.full_like(a, np.nan) if len(calls) == 1 else exact(a)

    monkeypatch.setattr(fid, "_sqrtm", flaky)
    s1, s2 = np.array([1.0, 2.0]), np.array([4.0, 0.5])
    expected = (s1 + s2 - 2 * np.sqrt(s1 * s2)).sum()
    got = frechet_distance(np.zeros(2), np.diag(s1), np.zeros(2), np.diag(s2))
    assert len(calls) == 2 and got == pytest.approx(expected, abs=1e-5)


def test_contrast_golden_values():
    n, d = 4, 8
    flat = torch.ones(3, 2 * n, d)  # every candidate equally similar: uniform over 2N - 1
    assert _contrast(flat).item() == pytest.approx(np.log(2 * n - 1), 1e-6)
    e = torch.eye(d)[:n]
    separable = 10 * torch.cat([e, e]).unsqueeze(0)  # each row matches only its partner
    assert _contrast(separable).item() < 1e-30 + 1e-12


def test_centre_tap_shortcut_is_exact():
    torch.manual_seed(0)
    block = _Block(4, 6, dilation=8, final=True)
    for length in (3, 8, 9, 20):  # at and around the dilation
        h = torch.randn(2, 4, length)
        full = block.proj(h) + block.conv2(
            torch.nn.functional.gelu(block.conv1(torch.nn.functional.gelu(h)))
        )
        torch.testing.assert_close(block(h), full)


def test_identical_sets_give_zero(real, encoder):
    assert context_fid(real, real, encoder=encoder) < 1e-6


def test_real_vs_real_small_real_vs_noise_large(real, encoder):
    other = sine_windows(400, 24, 3, seed=1)
    same = context_fid(real, other, encoder=encoder)
    noise = context_fid(real, gaussian_windows(real, 400, seed=1), encoder=encoder)
    assert noise > 10 * same, (same, noise)


def test_training_is_seeded_order_free_and_leaves_global_rng(real):
    tiny = {**SMALL, "iterations": 20}
    base = train_encoder(real, seed=0, **tiny)
    state = torch.get_rng_state()
    again = train_encoder(real[np.random.default_rng(5).permutation(len(real))], seed=0, **tiny)
    assert torch.equal(state, torch.get_rng_state())
    x = real[:50]
    np.testing.assert_allclose(embed_windows(again, x), embed_windows(base, x), atol=1e-5)
    other = train_encoder(real, seed=1, **tiny)
    assert not np.allclose(embed_windows(other, x), embed_windows(base, x), atol=1e-3)


def test_score_ignores_window_order(real, encoder):
    fake = sine_windows(300, 24, 3, seed=2)
    perm = np.random.default_rng(0).permutation(len(fake))
    a = context_fid(real, fake, encoder=encoder)
    b = context_fid(real[::-1].copy(), fake[perm], encoder=encoder)
    assert a == pytest.approx(b, rel=1e-6)


def test_context_fid_trains_on_real_and_checks_shapes(real):
    short = real[:64]
    score = context_fid(short, short[::-1].copy(), seed=0, iterations=5)
    assert 0 <= score < 1e-6
    with pytest.raises(DataError, match="synthetic"):
        context_fid(real, real[:, :12], iterations=1)
    bad = real.copy()
    bad[0, 0, 0] = np.nan
    with pytest.raises(DataError, match="NaN"):
        context_fid(real, bad, iterations=1)


def test_the_average_starts_from_the_initial_weights(real, monkeypatch):
    """TS2Vec's AveragedModel is updated with the initial weights before training: after T
    steps it is the mean of T + 1 weights."""
    counts = []
    average = fid._average_into

    def spy(avg, net, n):
        counts.append(n)
        average(avg, net, n)

    monkeypatch.setattr(fid, "_average_into", spy)
    train_encoder(real[:40], seed=0, **{**SMALL, "iterations": 3})
    assert counts == [1, 2, 3]
    a, p = torch.nn.Linear(2, 2), torch.nn.Linear(2, 2)
    start = a.weight.detach().clone()
    average(a, p, 1)  # one weight seen (the initial one): the midpoint
    torch.testing.assert_close(a.weight, (start + p.weight) / 2)


def test_unscaled_encoder_sees_the_units_it_is_given(real):
    shifted = 0.5 + 0.25 * real  # windows in a narrow native range, as Sines are
    tiny = {**SMALL, "iterations": 2}
    scaled = train_encoder(shifted, seed=0, **tiny)
    native = train_encoder(shifted, seed=0, scale=False, **tiny)
    assert torch.allclose(scaled.lo, torch.from_numpy(shifted.min(axis=(0, 1))).float())
    assert torch.equal(native.lo, torch.zeros(3)) and torch.equal(native.span, torch.ones(3))
