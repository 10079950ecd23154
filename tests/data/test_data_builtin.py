"""Built-in data sets: the sine generator and the listing."""

from __future__ import annotations

import numpy as np
import pytest

from tfusion.data import BUILTIN, list_builtin, sine_windows
from tfusion.errors import DataError


def test_sine_shape_range_and_seed():
    x = sine_windows(64, 24, 5, seed=3)
    assert x.shape == (64, 24, 5)
    assert x.min() >= 0.0 and x.max() <= 1.0
    np.testing.assert_array_equal(x, sine_windows(64, 24, 5, seed=3))
    assert not np.array_equal(x, sine_windows(64, 24, 5, seed=4))


def test_sine_is_sin_of_a_line_with_small_frequency_and_phase():
    # with L = 10, f t + p <= 1 < pi/2, so arcsin recovers f t + p exactly
    x = sine_windows(200, 10, 3, seed=0)
    angle = np.arcsin(2.0 * x - 1.0)  # (n, L, C)
    phase, freq = angle[:, 0], angle[:, 1] - angle[:, 0]
    assert phase.min() >= 0 and phase.max() <= 0.1
    assert freq.min() >= 0 and freq.max() <= 0.1
    t = np.arange(10)[None, :, None]
    np.testing.assert_allclose(angle, freq[:, None] * t + phase[:, None], atol=1e-9)
    # frequencies differ per window and per feature
    assert len(np.unique(freq.round(12))) == freq.size


def test_sine_rejects_empty_sizes():
    with pytest.raises(DataError, match=r"data\.sine_samples"):
        sine_windows(0, 24, 5, seed=0)


def test_listing_names_every_builtin_on_one_line():
    listed = dict(list_builtin())
    assert set(listed) == set(BUILTIN) == {"goog", "sine"}
    assert all(text and "\n" not in text for text in listed.values())
