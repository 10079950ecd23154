"""Small assertions shared by test files (importable because pytest puts tests/ on sys.path)."""

import pytest

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
