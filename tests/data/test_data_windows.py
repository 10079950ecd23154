"""Windows: views over the series, naive-slicing equivalence, splits."""

from __future__ import annotations

import numpy as np
import pytest

from helpers import error_of
from tfusion.data import Windows, make_windows, split_random, split_time


@pytest.fixture
def series() -> np.ndarray:
    return np.random.default_rng(0).normal(size=(40, 3)).astype(np.float32)  # (N, C)


@pytest.mark.parametrize("stride", [1, 3, 7])
def test_windows_match_naive_slicing(series, stride):
    length = 6
    windows = make_windows(series, length, stride)
    naive = np.stack([series[s : s + length] for s in range(0, 40 - length + 1, stride)])
    assert len(windows) == len(naive) == (40 - length) // stride + 1
    out = windows.to_array()
    assert out.dtype == np.float32 and out.flags.c_contiguous
    np.testing.assert_array_equal(out, naive)
    np.testing.assert_array_equal(windows.batch(np.array([2, 0])), naive[[2, 0]])


def test_windows_do_not_copy_the_series(series):
    windows = make_windows(series, 5, 1)
    assert windows.data is series
    assert np.shares_memory(windows._all, series)
    assert windows._all.nbytes > series.nbytes  # a view larger than the memory it uses
    train, test = split_random(windows, 0.25, seed=0)
    assert train.data is series and test.data is series


def test_ready_windows_are_wrapped(series):
    array = series.reshape(8, 5, 3)
    windows = Windows(array)
    assert (len(windows), windows.length, windows.features) == (8, 5, 3)
    np.testing.assert_array_equal(windows.batch(np.array([7, 1])), array[[7, 1]])
    assert "data.window=5" in error_of(Windows, array, 4)


def test_covered_values_are_the_steps_under_the_windows():
    series = np.arange(20, dtype=np.float64)[:, None]
    windows = Windows(series, 3, np.array([0, 1, 10]))
    np.testing.assert_array_equal(windows.covered_values()[:, 0], [0, 1, 2, 3, 10, 11, 12])


def test_random_split_is_reproducible_and_disjoint(series):
    windows = make_windows(series, 5)
    train, test = split_random(windows, 0.2, seed=2021)
    again_train, again_test = split_random(windows, 0.2, seed=2021)
    np.testing.assert_array_equal(train.starts, again_train.starts)
    np.testing.assert_array_equal(test.starts, again_test.starts)
    assert len(test) == round(0.2 * len(windows)) and len(train) + len(test) == len(windows)
    assert not set(train.starts) & set(test.starts)
    assert sorted([*train.starts, *test.starts]) == list(windows.starts)
    other, _ = split_random(windows, 0.2, seed=1)
    assert not np.array_equal(other.starts, train.starts)


def test_time_split_shares_no_time_step():
    time = np.arange(100, dtype=np.float32)[:, None]  # the value is the time step
    train, test = split_time(time, 10, 3, 0.3)
    train_steps, test_steps = set(train.to_array().ravel()), set(test.to_array().ravel())
    assert not train_steps & test_steps
    assert max(train_steps) < min(test_steps) == 70
    assert len(train) > 0 and len(test) > 0


def test_time_split_too_short_part():
    message = error_of(split_time, np.zeros((30, 1)), 10, 1, 0.2)
    assert "24 training and 6 test steps" in message and "data.window" in message


def test_window_too_long_or_zero(series):
    message = error_of(make_windows, series, 41)
    assert "41" in message and "40" in message and "data.window" in message
    assert "data.window" in error_of(make_windows, series, 0)
    assert "data.stride" in error_of(make_windows, series, 5, 0)


def test_bad_split_fractions(series):
    windows = make_windows(series, 5)
    assert "data.test_fraction" in error_of(split_random, windows, 0.0, 0)
    assert "data.split=none" in error_of(split_random, make_windows(series, 39), 0.2, 0)
