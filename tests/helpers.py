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
