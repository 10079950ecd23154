"""Image scores: the self-trained scorer recognises digits, FID separates real from noise."""

from __future__ import annotations

import numpy as np
import pytest

from tfusion.data.images import grid, load_images, to_uint8, write_images
from tfusion.metrics.images import train_scorer


@pytest.fixture(scope="module")
def digits():
    s = load_images("digits")
    train, test = s.split(0.2, seed=0)
    scorer = train_scorer(train.images, train.labels, test.images, test.labels, 10, epochs=6)
    return train, test, scorer


def test_scorer_recognises_held_out_digits(digits):
    _, test, scorer = digits
    assert scorer.test_accuracy > 0.9
    # class accuracy measures agreement with the requested class: wrong labels score low
    assert scorer.accuracy(test.images, (test.labels + 1) % 10) < 0.1


def test_fid_near_zero_for_real_and_large_for_noise(digits):
    train, test, scorer = digits
    rng = np.random.default_rng(0)
    real = scorer.fid(test.images, train.images[: len(test)])
    noise = scorer.fid(test.images, rng.uniform(-1, 1, test.images.shape).astype(np.float32))
    blank = scorer.fid(test.images, np.full_like(test.images[:50], -1.0) + 0.01 * rng.random())
    assert real < 0.1 * noise and real < 0.1 * blank
    # order of images does not matter
    perm = rng.permutation(len(test))
    assert scorer.fid(test.images[perm], train.images[: len(test)]) == pytest.approx(real, rel=1e-6)


def test_images_round_trip_through_npz_and_grid(tmp_path):
    images = np.linspace(-1, 1, 2 * 1 * 3 * 3, dtype=np.float32).reshape(2, 1, 3, 3)
    path = write_images(images, np.array([0, 1]), tmp_path / "x.npz")
    with np.load(path) as z:
        assert z["images"].shape == (2, 3, 3, 1) and z["images"].dtype == np.uint8
        assert z["images"].min() == 0 and z["images"].max() == 255
        assert z["labels"].tolist() == [0, 1]
    g = grid(to_uint8(images), columns=2, pad=1)
    assert g.shape == (1 + 3 + 1, 1 + 2 * (3 + 1))
