"""Captioned images: the generated `shapes` set, captioned MNIST, or a folder with a captions
file; what Transfusion trains on and what DiT's text conditioning reads."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tfusion.data.shapes import make_shapes
from tfusion.errors import ConfigError

CAPTIONED = ("shapes", "mnist")  # the built-in captioned sets (else: a folder)
NUMBERS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


def load_captioned(
    source: str, size: int, samples: int = 20000, seed: int = 0
) -> tuple[np.ndarray, list[str]]:
    """(images (N, C, size, size) in [-1, 1], captions) of a captioned source: `shapes`
    (`samples` images drawn with `seed`), `mnist` ("a handwritten seven") or a folder of
    images with captions.txt / metadata.csv / metadata.jsonl."""
    if source == "shapes":
        images, captions, _ = make_shapes(samples, size, seed)
        return images, captions
    if source == "mnist":
        from tfusion.data.images import load_images

        s = load_images("mnist", size if size != 28 else None)
        return s.images, [f"a handwritten {NUMBERS[y]}" for y in s.labels]
    if Path(source).is_dir():
        from tfusion.data.images import load_captioned_folder

        return load_captioned_folder(source, size)
    raise ConfigError(
        f"data.source {source!r} is neither shapes, mnist nor a folder of images with a "
        "captions file (captions.txt, metadata.csv or metadata.jsonl)"
    )
