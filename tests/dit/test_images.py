"""Image sets for DiT: built-ins, folders, .npz, stratified splits and clear errors."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from helpers import error_of
from tfusion.data.images import load_images


def test_builtin_digits_are_scaled_to_minus_one_one():
    s = load_images("digits")
    assert s.images.shape == (1797, 1, 8, 8) and s.images.dtype == np.float32
    assert s.images.min() == -1.0 and s.images.max() == 1.0
    assert s.classes == tuple(str(d) for d in range(10))
    assert set(np.unique(s.labels)) == set(range(10))


def test_builtin_mnist_is_the_5000_real_digits():
    s = load_images("mnist")
    assert s.images.shape == (5000, 1, 28, 28)
    assert np.bincount(s.labels).tolist() == [500] * 10
    # real handwriting: mostly background (-1) with bright strokes
    assert 0.6 < (s.images < -0.9).mean() < 0.95 and s.images.max() == 1.0


def write_png(path, array, mode="L"):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array, mode=mode).save(path)


def test_folder_classes_are_sorted_subfolders_and_pixels_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    cat = rng.integers(0, 256, (3, 6, 6), dtype=np.uint8)
    dog = rng.integers(0, 256, (2, 6, 6), dtype=np.uint8)
    for i, a in enumerate(dog):
        write_png(tmp_path / "dog" / f"{i}.png", a)
    for i, a in enumerate(cat):
        write_png(tmp_path / "cat" / f"{i}.png", a)
    (tmp_path / "cat" / "notes.txt").write_text("not an image")
    s = load_images(tmp_path)
    assert s.classes == ("cat", "dog")
    assert s.labels.tolist() == [0, 0, 0, 1, 1]
    assert s.images.shape == (5, 1, 6, 6)
    np.testing.assert_allclose(s.images[0, 0], cat[0] / 127.5 - 1, atol=1e-6)


def test_colour_images_give_three_channels_and_resize(tmp_path):
    write_png(tmp_path / "a" / "x.png", np.zeros((10, 12, 3), np.uint8), "RGB")
    write_png(tmp_path / "a" / "y.png", np.full((8, 8, 3), 255, np.uint8), "RGB")
    message = error_of(load_images, tmp_path)
    assert "image_size" in message  # two sizes: the fix is named
    s = load_images(tmp_path, image_size=4)
    assert s.images.shape == (2, 3, 4, 4)
    assert s.images[0].max() == -1.0 and s.images[1].min() == 1.0


def test_corrupt_image_is_named(tmp_path):
    write_png(tmp_path / "a" / "good.png", np.zeros((4, 4), np.uint8))
    (tmp_path / "a" / "bad.png").write_bytes(b"not a png at all")
    assert "bad.png" in error_of(load_images, tmp_path)


def test_folder_without_classes_and_missing_path(tmp_path):
    assert "sub-folder" in error_of(load_images, tmp_path)
    assert "not found" in error_of(load_images, tmp_path / "nope")


def test_npz_channels_last_uint8(tmp_path):
    images = np.zeros((4, 5, 5, 3), np.uint8)
    images[1] = 255
    np.savez(tmp_path / "x.npz", images=images, labels=np.array([0, 1, 2, 1]))
    s = load_images(tmp_path / "x.npz")
    assert s.images.shape == (4, 3, 5, 5)
    assert s.images[1].min() == 1.0 and s.images[0].max() == -1.0
    assert s.classes == ("0", "1", "2")


@pytest.mark.parametrize(
    ("arrays", "word"),
    [
        ({"pixels": np.zeros((2, 4, 4))}, "images"),
        ({"images": np.full((2, 4, 4), 300.0)}, "range"),
        ({"images": np.full((2, 4, 4), np.nan)}, "NaN"),
        ({"images": np.zeros((2, 4, 4)), "labels": np.array([0.5, 1.0])}, "labels"),
        ({"images": np.zeros((0, 4, 4))}, "empty"),
    ],
)
def test_bad_npz_gets_one_line(tmp_path, arrays, word):
    np.savez(tmp_path / "x.npz", **arrays)
    assert word in error_of(load_images, tmp_path / "x.npz")


def test_split_is_stratified_and_disjoint():
    s = load_images("digits")
    train, test = s.split(0.2, seed=3)
    assert len(train) + len(test) == len(s)
    share = np.bincount(test.labels) / np.bincount(s.labels)
    assert np.all(np.abs(share - 0.2) < 0.02)
    # disjoint: no held-out image equals a training image at the same index set
    _again_train, again_test = s.split(0.2, seed=3)
    np.testing.assert_array_equal(again_test.images, test.images)
