"""PRDC: a hand-computed example, the k-NN radii against scikit-learn, and the limiting cases."""

import numpy as np
import pytest
from sklearn.neighbors import NearestNeighbors

from tfusion.errors import DataError
from tfusion.metrics.prdc import nearest_distances, prdc


def brute_force(real: np.ndarray, fake: np.ndarray, k: int) -> dict[str, float]:
    """The formulas of Naeem et al. (2020) on full distance matrices."""
    d_rr = np.linalg.norm(real[:, None] - real[None], axis=-1)
    d_ff = np.linalg.norm(fake[:, None] - fake[None], axis=-1)
    d_rf = np.linalg.norm(real[:, None] - fake[None], axis=-1)  # (N, M)
    r_rad = np.sort(d_rr, axis=1)[:, k]  # column 0 is the point itself
    f_rad = np.sort(d_ff, axis=1)[:, k]
    inside = d_rf < r_rad[:, None]
    return {
        "precision": inside.any(axis=0).mean(),
        "recall": (d_rf < f_rad[None, :]).any(axis=1).mean(),
        "density": inside.sum(axis=0).mean() / k,
        "coverage": (d_rf.min(axis=1) < r_rad).mean(),
    }


def test_hand_computed_example():
    # real radii (k = 1) are all 1; both fake radii are 9.5
    real = np.array([[0.0], [1.0], [2.0], [3.0]])
    fake = np.array([[0.5], [10.0]])
    got = prdc(real, fake, k=1)
    # precision: 0.5 is inside real balls, 10 is not; recall: every real is within 9.5 of 0.5;
    # density: 0.5 lies in the balls of 0 and 1 -> (2 + 0) / 2; coverage: only 0 and 1 are hit
    assert got == {"precision": 0.5, "recall": 1.0, "density": 1.0, "coverage": 0.5}


def test_matches_brute_force_for_any_chunk():
    rng = np.random.default_rng(0)
    real, fake = rng.normal(size=(90, 4)), rng.normal(0.5, 1.2, size=(70, 4))
    expected = brute_force(real, fake, k=5)
    for chunk in (7, 512):
        got = prdc(real, fake, k=5, chunk=chunk)
        for key, value in expected.items():
            assert got[key] == pytest.approx(value, abs=1e-12), key


def test_knn_radii_match_sklearn():
    rng = np.random.default_rng(1)
    x, q = rng.normal(size=(200, 6)), rng.normal(size=(50, 6))
    ref = NearestNeighbors(n_neighbors=6).fit(x)
    np.testing.assert_allclose(
        nearest_distances(x, x, k=5, exclude_self=True, chunk=33),
        ref.kneighbors(x)[0][:, 5],
        rtol=1e-6,
    )
    np.testing.assert_allclose(nearest_distances(q, x, k=3), ref.kneighbors(q, 3)[0][:, 2], 1e-6)


def test_identical_sets_and_far_apart_sets():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(400, 16))
    same = prdc(x, x.copy())
    assert same["precision"] == 1 and same["recall"] == 1 and same["coverage"] == 1
    assert 0.9 < same["density"] < 1.5  # each point counts its own ball, plus ~its k neighbours'
    far = prdc(x, x + 100.0)
    assert far == {"precision": 0.0, "recall": 0.0, "density": 0.0, "coverage": 0.0}


def test_same_distribution_beats_a_collapsed_one():
    rng = np.random.default_rng(3)
    real, good = rng.normal(size=(500, 8)), rng.normal(size=(500, 8))
    collapsed = rng.normal(scale=0.2, size=(500, 8))  # all fakes in the centre of the real cloud
    g, c = prdc(real, good), prdc(real, collapsed)
    assert c["precision"] > 0.9 and c["recall"] < 0.1 and c["coverage"] < g["coverage"] / 3


def test_order_invariant_and_checked():
    rng = np.random.default_rng(4)
    real, fake = rng.normal(size=(150, 5)), rng.normal(0.3, 1, size=(120, 5))
    a = prdc(real, fake)
    b = prdc(real[rng.permutation(150)], fake[::-1].copy())
    assert a == pytest.approx(b, abs=1e-12)
    with pytest.raises(DataError, match="dimensions"):
        prdc(real, fake[:, :3])
    with pytest.raises(DataError, match="reference points"):
        prdc(real[:4], fake, k=5)
