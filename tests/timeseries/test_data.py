"""prepare(): the pipeline from a DataConfig to scaled windows and a saved state."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from helpers import error_of
from tfusion.errors import ConfigError
from tfusion.timeseries.config import DataConfig
from tfusion.timeseries.data import prepare


@pytest.fixture
def series() -> np.ndarray:
    t = np.arange(60, dtype=np.float64)
    return np.stack([t * 2.0 + 1.0, np.sin(t) * 50.0, np.full(60, 7.0)], axis=1)  # (N, C)


@pytest.fixture
def csv(tmp_path: Path, series: np.ndarray) -> str:
    lines = ["date,a,b,c"] + [
        f"d{i}," + ",".join(repr(float(v)) for v in row) for i, row in enumerate(series)
    ]
    (tmp_path / "s.csv").write_text("\n".join(lines) + "\n")
    return str(tmp_path / "s.csv")


def naive(series: np.ndarray, starts: np.ndarray, length: int) -> np.ndarray:
    return np.stack([series[s : s + length] for s in starts])


def test_random_split_scaled_on_train_only_and_invertible(csv, series):
    cfg = DataConfig(source=csv, window=8, split="random", test_fraction=0.25, seed=5)
    prep = prepare(cfg)
    assert prep.columns == ("a", "b", "c") and len(prep.notices) == 1
    assert prep.notices[0].startswith("dropped non-numeric column 'date' (cells like '")
    train = prep.train.to_array()
    assert train.dtype == np.float32 and train.shape == (len(prep.train), 8, 3)
    # min-max fitted on the training windows: exactly [-1, 1] there (constant column -> 0)
    assert train[..., :2].min() == -1.0 and train[..., :2].max() == 1.0
    assert (train[..., 2] == 0.0).all()
    np.testing.assert_allclose(prep.inverse(train), naive(series, prep.train.starts, 8), atol=1e-4)
    test = prep.test.to_array()
    np.testing.assert_allclose(prep.inverse(test), naive(series, prep.test.starts, 8), atol=1e-4)
    assert not set(prep.train.starts) & set(prep.test.starts)


def test_state_is_json_safe_and_complete(csv):
    prep = prepare(DataConfig(source=csv, window=8, reverse=True))
    state = json.loads(json.dumps(prep.state()))
    assert state["columns"] == ["a", "b", "c"] and state["features"] == 3
    assert state["window"] == 8 and state["reverse"] is True and state["rows"] == 60
    assert state["windows"] == {"train": len(prep.train), "test": len(prep.test)}
    assert state["scaler"]["kind"] == "minmax" and state["source"] == csv
    assert state["notices"] == list(prep.notices)


def test_reverse_gives_windows_of_the_reversed_series(csv, series):
    prep = prepare(DataConfig(source=csv, window=8, split="none", scaler="none", reverse=True))
    np.testing.assert_allclose(prep.train.batch(np.array([0]))[0], series[::-1][:8], atol=1e-4)


def test_split_none_tests_on_train(csv):
    prep = prepare(DataConfig(source=csv, window=8, split="none"))
    assert prep.test is prep.train and len(prep.train) == 60 - 8 + 1


def test_time_split_no_overlap_and_scaler_from_the_past(csv, series):
    prep = prepare(DataConfig(source=csv, window=5, split="time", test_fraction=0.25))
    assert prep.train.starts.max() + 5 <= 45 <= prep.test.starts.min()
    # column a increases with time, so the test part lies above the training range
    assert prep.test.to_array()[..., 0].min() > 1.0
    assert prep.scaler.offset[0] == series[0, 0]


def test_sentinels_never_reach_the_scaler(tmp_path):
    rows = ["a,b"] + [f"{-200 if i % 7 == 3 else i},{i % 5}" for i in range(40)]
    (tmp_path / "x.csv").write_text("\n".join(rows) + "\n")
    cfg = DataConfig(source=str(tmp_path / "x.csv"), window=4, missing_values=(-200.0,))
    prep = prepare(cfg)
    assert prep.inverse(prep.train.to_array()).min() > -200
    assert prep.scaler.offset[0] == 0.0  # the minimum of a, not the sentinel


def test_sine_through_prepare():
    cfg = DataConfig(source="sine", sine_samples=50, sine_features=2, window=12, seed=1)
    prep = prepare(cfg)
    assert (len(prep.train), len(prep.test)) == (40, 10)
    train = prep.train.to_array()
    assert train.shape == (40, 12, 2) and train.min() >= -1.0 and train.max() <= 1.0
    assert prep.rows is None and prep.columns == ("sine_0", "sine_1")
    json.dumps(prep.state())


def test_bad_settings(csv):
    assert "data.window" in error_of(prepare, DataConfig(source=csv, window=61))
    # values wrong whatever the data are fail when the config is read
    assert "data.window" in error_of(DataConfig, source=csv, window=0, cls=ConfigError)
    assert "data.split" in error_of(DataConfig, source=csv, split="k", cls=ConfigError)
    assert "data.scaler" in error_of(DataConfig, source=csv, scaler="x", cls=ConfigError)
    sine_time = DataConfig(source="sine", split="time", sine_samples=10)
    assert "data.split" in error_of(prepare, sine_time, cls=ConfigError)


@pytest.fixture
def gappy(tmp_path: Path) -> str:
    """40 rows; column a misses rows 5 (a 1-step gap) and 20..25 (6 steps), b misses 31..32;
    column m is 90% missing."""
    gaps_a = {5, *range(20, 26)}
    lines = ["a,b,m"]
    for i in range(40):
        a = "" if i in gaps_a else str(i)
        b = "" if i in (31, 32) else str(i % 7)
        m = str(i) if i % 10 == 0 else ""
        lines.append(f"{a},{b},{m}")
    (tmp_path / "g.csv").write_text("\n".join(lines) + "\n")
    return str(tmp_path / "g.csv")


def _all_starts(prep) -> list[int]:
    return sorted({*prep.train.starts.tolist(), *prep.test.starts.tolist()})


def test_max_missing_drops_mostly_missing_columns(gappy):
    prep = prepare(DataConfig(source=gappy, window=4, max_missing=0.5))
    assert prep.columns == ("a", "b")
    assert "dropped column 'm': 90% missing (data.max_missing=0.5)" in prep.notices
    assert prepare(DataConfig(source=gappy, window=4)).columns == ("a", "b", "m")
    assert "data.max_missing" in error_of(prepare, DataConfig(source=gappy, max_missing=0.0))
    assert "data.max_missing" in error_of(
        DataConfig, source=gappy, max_missing=1.5, cls=ConfigError
    )


@pytest.mark.parametrize("reverse", [False, True])
def test_max_gap_leaves_out_windows_over_long_filled_gaps(gappy, reverse):
    base = dict(source=gappy, window=4, max_missing=0.5, split="none", reverse=reverse)
    every = _all_starts(prepare(DataConfig(**base)))
    assert every == list(range(37))
    # gaps longer than 2 steps: only a's rows 20..25 (in the reversed series: 14..19)
    long_rows = set(range(20, 26)) if not reverse else {39 - r for r in range(20, 26)}
    expect = [s for s in range(37) if not long_rows & set(range(s, s + 4))]
    prep = prepare(DataConfig(**base, max_gap=2))
    assert _all_starts(prep) == expect
    assert f"left out {37 - len(expect)} of 37 windows" in " ".join(prep.notices)
    # max_gap=0: no window may hold any interpolated value (a at 5 and 20..25, b at 31..32)
    filled = {5, *range(20, 26), 31, 32}
    filled = filled if not reverse else {39 - r for r in filled}
    expect0 = [s for s in range(37) if not filled & set(range(s, s + 4))]
    assert _all_starts(prepare(DataConfig(**base, max_gap=0))) == expect0
    # the kept windows hold only observed values of the file
    raw = prepare(DataConfig(**base, max_gap=0))
    values = raw.inverse(raw.train.to_array())[:, :, 0]
    assert np.allclose(np.diff(values, axis=1), -1.0 if reverse else 1.0)


def test_max_gap_with_a_time_split_and_bad_settings(gappy):
    prep = prepare(DataConfig(source=gappy, window=4, max_missing=0.5, split="time", max_gap=2))
    for part in (prep.train, prep.test):
        for s in part.starts.tolist():
            assert not set(range(20, 26)) & set(range(s, s + 4))
    assert "data.max_gap" in error_of(
        DataConfig, source=gappy, window=4, missing="drop", max_gap=2, cls=ConfigError
    )
    assert "data.max_gap" in error_of(
        DataConfig, source=gappy, window=4, max_gap=-1, cls=ConfigError
    )
    # column m is filled almost everywhere: no window of 30 steps is clear of its long gaps
    assert "raise data.max_gap" in error_of(prepare, DataConfig(source=gappy, window=30, max_gap=3))
