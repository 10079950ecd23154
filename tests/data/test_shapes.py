"""The shapes set: captions match pixels, the checker reads them back."""

from __future__ import annotations

import numpy as np
import pytest

from tfusion.data.shapes import check_caption, make_shapes, read_back


@pytest.mark.parametrize("size", [16, 24, 32])
def test_the_checker_reads_every_generated_caption_back(size):
    images, captions, _ = make_shapes(300, size=size, seed=1)
    assert images.shape == (300, 3, size, size)
    assert images.min() == -1.0 and images.max() == 1.0
    ok = [all(check_caption(im, cap).values()) for im, cap in zip(images, captions, strict=True)]
    assert np.mean(ok) == 1.0, [c for c, o in zip(captions, ok, strict=True) if not o][:5]
    assert any(" above " in c for c in captions) and any(" on the " in c for c in captions)


def test_the_checker_rejects_wrong_captions():
    images, captions, items = make_shapes(200, size=16, seed=2)
    wrong = 0
    for im, cap, its in zip(images, captions, items, strict=True):
        first = its[0]
        other = "square" if first.shape != "square" else "circle"
        bad = cap.replace(f"{first.colour} {first.shape}", f"{first.colour} {other}", 1)
        wrong += not check_caption(im, bad)["shape"]
    assert wrong == 200
    blank = -np.ones((3, 16, 16), dtype=np.float32)
    assert read_back(blank) == []
    assert not any(check_caption(blank, captions[0]).values())


@pytest.mark.parametrize(
    "caption",
    ["a", "", "a red", "a red circle on", "a red circle beside a blue square", "x y z w v u"],
)
def test_a_malformed_caption_is_wrong_not_a_crash(caption):
    images, _, _ = make_shapes(1, size=16, seed=0)
    assert check_caption(images[0], caption) == {
        "colour": False,
        "shape": False,
        "position": False,
    }
