"""Memorisation check: copies of the training set are flagged, fresh samples are not."""

import numpy as np
import pytest

from tfusion.data import sine_windows
from tfusion.metrics.memorisation import memorisation_check


@pytest.fixture(scope="module")
def split():
    x = sine_windows(900, 24, 3, seed=0)
    return x[:500], x[500:700], x[700:]  # train, test, an independent "good generator" sample


def test_copy_of_training_windows_is_flagged(split):
    train, test, _ = split
    copy = train[np.random.default_rng(0).choice(len(train), 200, replace=False)]
    r = memorisation_check(train, test, copy)
    assert r["copies_training_data"]
    assert r["fraction_below_test_p1"] == 1.0 and r["fraction_exact_copies"] == 1.0
    assert r["median_ratio"] < 1e-3


def test_independent_sample_is_not_flagged(split):
    train, test, fresh = split
    r = memorisation_check(train, test, fresh)
    assert not r["copies_training_data"]
    assert r["fraction_below_test_p1"] < 0.05 and r["fraction_below_test_p5"] < 0.15
    assert r["fraction_exact_copies"] == 0.0
    assert 0.7 < r["median_ratio"] < 1.4


def test_near_copies_and_partial_copies_are_flagged(split):
    train, test, fresh = split
    rng = np.random.default_rng(1)
    noisy = train[:200] + rng.normal(0, 1e-4, size=train[:200].shape)
    assert memorisation_check(train, test, noisy)["copies_training_data"]
    # a quarter copied, the rest fresh
    mixed = np.concatenate([train[:50], fresh[:150]])
    r = memorisation_check(train, test, mixed)
    assert r["copies_training_data"] and 0.25 <= r["fraction_below_test_p1"] < 0.35


def test_on_embeddings(split):
    train, test, fresh = split

    def embed(x: np.ndarray) -> np.ndarray:
        return np.concatenate([x.mean(axis=1), x[:, -1] - x[:, 0]], axis=1)  # (n, 2C)

    assert memorisation_check(train, test, train[:100], embed=embed)["copies_training_data"]
    assert not memorisation_check(train, test, fresh, embed=embed)["copies_training_data"]


def test_order_invariant(split):
    train, test, fresh = split
    rng = np.random.default_rng(2)
    a = memorisation_check(train, test, fresh)
    b = memorisation_check(train[rng.permutation(500)], test[::-1].copy(), fresh[::-1].copy())
    assert a == pytest.approx(b, rel=1e-9)
