"""Windows (n, L, C) of a series (N, C), kept as start indices over the series: no copies.

Shapes: N time steps, C features, L window length, n windows, b windows in a batch.
A `Windows` over a series holds the series and the start of each window; `batch` gathers only
the requested windows. Over ready windows (n, L, C), e.g. the built-in sines, it holds the array
and a row index instead. Splits return two `Windows` over the same array.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from tfusion.errors import DataError


class Windows:
    """Windows (n, L, C) by start index over a series (N, C), or rows of ready windows."""

    def __init__(
        self,
        data: np.ndarray,
        length: int | None = None,
        starts: np.ndarray | None = None,
        transform: Callable[[np.ndarray], np.ndarray] | None = None,
    ) -> None:
        """Windows of `length` over a series (N, C) or ready windows (n, L, C); all by default.

        `transform` (e.g. a scaler) is applied to each gathered batch, so a memory-mapped raw
        series is scaled batch by batch instead of copied whole.
        """
        self.transform = transform
        data = np.asarray(data)  # a memory map stays a view of the file
        if data.ndim == 2:
            if length is None:
                raise TypeError("Windows over a series (N, C) needs a window length")
            check_window(length, data.shape[0])
            # (N-L+1, C, L) -> (N-L+1, L, C): strides only, the series is not copied
            self._all = sliding_window_view(data, length, axis=0).transpose(0, 2, 1)
        elif data.ndim == 3:
            if length is not None and length != data.shape[1]:
                raise DataError(
                    f"windows have length {data.shape[1]}, not {length}; "
                    f"set data.window={data.shape[1]}"
                )
            self._all = data
        else:
            raise DataError(f"expected a series (N, C) or windows (n, L, C), got {data.shape}")
        self.data = data
        n_all = self._all.shape[0]
        self.starts = np.arange(n_all) if starts is None else np.asarray(starts, dtype=np.int64)
        if self.starts.ndim != 1 or (len(self.starts) and self.starts.min() < 0):
            raise IndexError("window starts must be a 1-D array of non-negative integers")
        if len(self.starts) and self.starts.max() >= n_all:
            raise IndexError(f"window start {self.starts.max()} is beyond the last ({n_all - 1})")

    @property
    def length(self) -> int:
        """Window length L."""
        return self._all.shape[1]

    @property
    def features(self) -> int:
        """Number of features C."""
        return self._all.shape[2]

    @property
    def is_series(self) -> bool:
        """True when the windows are views of one series (N, C)."""
        return self.data.ndim == 2

    def __len__(self) -> int:
        return len(self.starts)

    def __repr__(self) -> str:
        kind = f"series {self.data.shape}" if self.is_series else f"array {self.data.shape}"
        return f"Windows(n={len(self)}, L={self.length}, C={self.features}, over {kind})"

    def batch(self, indices: np.ndarray) -> np.ndarray:
        """Windows number `indices` (b,) as a new float32 array (b, L, C)."""
        gathered = self._all[self.starts[np.asarray(indices, dtype=np.int64)]]  # (b, L, C)
        if self.transform is not None:
            gathered = self.transform(gathered)
        return np.ascontiguousarray(gathered, dtype=np.float32)

    def to_array(self) -> np.ndarray:
        """All windows as one float32 array (n, L, C) (a copy: n * L * C values)."""
        return self.batch(np.arange(len(self)))

    def subset(self, indices: np.ndarray) -> Windows:
        """The windows number `indices`, over the same data."""
        picked = self.starts[np.asarray(indices, dtype=np.int64)]
        return Windows(self.data, self.length, picked, self.transform)

    def with_data(self, data: np.ndarray) -> Windows:
        """The same windows over another array of the same shape (e.g. the scaled series)."""
        if np.shape(data) != self.data.shape:
            raise ValueError(f"shape {np.shape(data)} differs from {self.data.shape}")
        return Windows(data, self.length, self.starts, self.transform)

    def with_transform(self, transform: Callable[[np.ndarray], np.ndarray]) -> Windows:
        """The same windows, each batch passed through `transform` when gathered."""
        return Windows(self.data, self.length, self.starts, transform)

    def covered_values(self) -> np.ndarray:
        """Values the windows see: distinct time steps (M, C), or the windows (n, L, C)."""
        if not self.is_series:
            return self.data[self.starts]
        # +1 at each start, -1 after each end; a positive running sum marks a covered step
        edges = np.zeros(len(self.data) + 1, dtype=np.int64)
        np.add.at(edges, self.starts, 1)
        np.add.at(edges, self.starts + self.length, -1)
        return self.data[np.cumsum(edges[:-1]) > 0]


def check_window(length: int, steps: int) -> None:
    """DataError unless 1 <= length <= steps."""
    if length < 1:
        raise DataError(f"window length {length} is too short; set data.window to at least 1")
    if length > steps:
        raise DataError(
            f"window length {length} is longer than the series ({steps} time steps); "
            f"lower data.window to at most {steps}"
        )


def _check_stride(stride: int) -> None:
    if stride < 1:
        raise DataError(f"stride {stride} is too small; set data.stride to at least 1")


def _check_fraction(test_fraction: float) -> None:
    if not 0.0 < test_fraction < 1.0:
        raise DataError(
            f"test fraction {test_fraction} must be between 0 and 1 (exclusive); "
            "set data.test_fraction, or data.split=none to train on everything"
        )


def make_windows(series: np.ndarray, length: int, stride: int = 1) -> Windows:
    """All windows of `length` starting every `stride` steps of a series (N, C)."""
    series = np.asarray(series)
    if series.ndim != 2:
        raise DataError(f"expected a series (N, C), got shape {series.shape}")
    check_window(length, series.shape[0])
    _check_stride(stride)
    return Windows(series, length, np.arange(0, series.shape[0] - length + 1, stride))


def split_random(windows: Windows, test_fraction: float, seed: int) -> tuple[Windows, Windows]:
    """Shuffle windows with Generator(seed) and hold out round(n * test_fraction) of them."""
    _check_fraction(test_fraction)
    n = len(windows)
    n_test = round(n * test_fraction)
    if n_test < 1 or n_test >= n:
        raise DataError(
            f"{n} windows cannot be split with test fraction {test_fraction}; "
            "use a longer series, a smaller data.window or data.stride, or data.split=none"
        )
    order = np.random.default_rng(seed).permutation(n)
    return windows.subset(order[: n - n_test]), windows.subset(order[n - n_test :])


def split_time(
    series: np.ndarray, length: int, stride: int, test_fraction: float
) -> tuple[Windows, Windows]:
    """Train on the first steps, test on the last round(N * test_fraction); no shared step."""
    series = np.asarray(series)
    if series.ndim != 2:
        raise DataError(f"expected a series (N, C), got shape {series.shape}")
    _check_fraction(test_fraction)
    _check_stride(stride)
    check_window(length, series.shape[0])
    steps = series.shape[0]
    cut = steps - round(steps * test_fraction)  # first test step
    if min(cut, steps - cut) < length:
        raise DataError(
            f"a time split leaves {cut} training and {steps - cut} test steps, fewer than the "
            f"window length {length}; lower data.window or change data.test_fraction"
        )
    # train windows end before `cut`, test windows start at or after it
    train = Windows(series, length, np.arange(0, cut - length + 1, stride))
    test = Windows(series, length, np.arange(cut, steps - length + 1, stride))
    return train, test


def segment_windows(series: np.ndarray, bounds: np.ndarray, length: int, stride: int) -> Windows:
    """Windows of `length` every `stride` steps inside each sequence rows bounds[k]:bounds[k+1]
    of a series (N, C) holding many sequences; no window crosses from one to the next. A
    sequence shorter than `length` gives none (the caller says so)."""
    _check_stride(stride)
    if length < 1:
        check_window(length, 1)
    starts = [np.arange(a, b - length + 1, stride) for a, b in itertools.pairwise(bounds)]
    starts_all = np.concatenate(starts) if starts else np.zeros(0, np.int64)
    if not len(starts_all):
        longest = int(np.diff(bounds).max()) if len(bounds) > 1 else 0
        raise DataError(
            f"every sequence is shorter than the window length {length} (the longest has "
            f"{longest} time steps); lower data.window to at most {longest}"
        )
    return Windows(series, length, starts_all)


def segment_of(bounds: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """The sequence number of each window start."""
    return np.searchsorted(bounds, starts, side="right") - 1


def split_groups(
    windows: Windows, groups: np.ndarray, test_fraction: float, seed: int, what: str = "sequences"
) -> tuple[Windows, Windows]:
    """Hold out round(G * test_fraction) of the G groups (sequences) that have windows,
    shuffled with Generator(seed); a group's windows are all train or all test."""
    _check_fraction(test_fraction)
    present = np.unique(groups)
    n_test = round(len(present) * test_fraction)
    if n_test < 1 or n_test >= len(present):
        raise DataError(
            f"{len(present)} {what} cannot be split with test fraction {test_fraction}; "
            f"use more {what}, change data.test_fraction, or data.split=none"
        )
    order = np.random.default_rng(seed).permutation(present)
    test = np.isin(groups, order[len(present) - n_test :])
    return windows.subset(np.flatnonzero(~test)), windows.subset(np.flatnonzero(test))


def split_time_segments(
    series: np.ndarray, bounds: np.ndarray, length: int, stride: int, test_fraction: float
) -> tuple[Windows, Windows]:
    """`split_time` within each sequence: the last round(n_k * test_fraction) steps of sequence
    k are test, the ones before train; windows stay inside one part of one sequence."""
    _check_fraction(test_fraction)
    _check_stride(stride)
    train, test = [], []
    for a, b in zip(bounds[:-1].tolist(), bounds[1:].tolist()):
        cut = b - round((b - a) * test_fraction)
        train.append(np.arange(a, cut - length + 1, stride))
        test.append(np.arange(cut, b - length + 1, stride))
    train_starts, test_starts = np.concatenate(train), np.concatenate(test)
    if not len(train_starts) or not len(test_starts):
        raise DataError(
            f"a time split of each sequence leaves {len(train_starts)} training and "
            f"{len(test_starts)} test windows of length {length}; lower data.window or change "
            "data.test_fraction"
        )
    return Windows(series, length, train_starts), Windows(series, length, test_starts)
