"""Small assertions shared by test files (importable because pytest puts tests/ on sys.path)."""

from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file

from tfusion.errors import DataError


def error_of(fn, *args, cls=DataError, **kwargs) -> str:
    """Message of the error `fn` raises; it must be a single line."""
    with pytest.raises(cls) as info:
        fn(*args, **kwargs)
    message = str(info.value)
    assert message and "\n" not in message
    return message


# the smallest real time-series run: a 1 x 32 model on 64 generated sine windows of 16 x 2
TINY_TIMESERIES = [
    "data.source=sine",
    "data.sine_samples=64",
    "data.sine_features=2",
    "data.window=16",
    "model.preset=tiny",
    "model.width=32",
    "model.depth=1",
    "model.ff=64",
    "train.batch_size=8",
    "train.progress=false",
]


def assert_same_weights(a: Path, b: Path, atol: float = 1e-6) -> None:
    """Two finished runs hold the same model and EMA weights (rtol 1e-4)."""
    for name in ("model.safetensors", "ema.safetensors"):
        x, y = load_file(a / name), load_file(b / name)
        assert x.keys() == y.keys()
        for k in y:
            np.testing.assert_allclose(x[k], y[k], rtol=1e-4, atol=atol, err_msg=f"{name} {k}")


def two_class_images(path: Path) -> Path:
    """32 noisy 8 x 8 grey images in two classes (dark 0, light 1), written as an .npz."""
    rng = np.random.default_rng(0)
    labels = np.arange(32) % 2
    images = np.clip(
        np.where(labels[:, None, None] == 1, 0.9, 0.1) + 0.05 * rng.standard_normal((32, 8, 8)),
        0,
        1,
    )
    np.savez(path, images=images, labels=labels)
    return path
