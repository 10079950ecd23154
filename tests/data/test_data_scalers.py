"""Scaler: exact ranges, round trips, constant features, saved state."""

from __future__ import annotations

import json

import numpy as np
import pytest

from helpers import error_of
from tfusion.data import Scaler
from tfusion.errors import ConfigError


@pytest.fixture
def x() -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.normal(size=(50, 7, 3)) * [1.0, 100.0, 1e-3] + [0.0, -5.0, 1e4]  # (n, L, C)


@pytest.mark.parametrize("kind", ["minmax", "standard", "none"])
def test_round_trip(x, kind):
    scaler = Scaler.fit(x, kind)
    y = scaler.transform(x)
    assert y.shape == x.shape and y.dtype == np.float64
    # exact up to float64 rounding, measured against each feature's magnitude
    error = np.abs(scaler.inverse_transform(y) - x).max(axis=(0, 1))
    assert (error <= 1e-13 * np.abs(x).max(axis=(0, 1))).all()


def test_minmax_hits_exactly_minus_one_and_one_per_feature(x):
    y = Scaler.fit(x, "minmax").transform(x)
    flat = y.reshape(-1, 3)
    assert (flat.min(axis=0) == -1.0).all() and (flat.max(axis=0) == 1.0).all()


def test_minmax_of_other_data_can_leave_the_range(x):
    scaler = Scaler.fit(x[:10], "minmax")
    y = scaler.transform(x)
    assert y.max() > 1.0 or y.min() < -1.0


def test_standard_has_zero_mean_unit_std(x):
    y = Scaler.fit(x, "standard").transform(x).reshape(-1, 3)
    # feature 2 is 1e4 +- 1e-3: float64 rounding of x alone is ~1e-9 in units of its std
    np.testing.assert_allclose(y.mean(axis=0), 0.0, atol=1e-7)
    np.testing.assert_allclose(y.std(axis=0), 1.0, rtol=1e-9)


def test_none_is_identity(x):
    np.testing.assert_array_equal(Scaler.fit(x, "none").transform(x), x)


def test_unit_is_2x_minus_1_whatever_the_range_and_needs_0_to_1():
    u = np.array([[0.5, 0.25], [0.75, 0.5], [1.0, 0.3]])  # TransFusion's sines at short L
    scaler = Scaler.fit(u, "unit")
    np.testing.assert_array_equal(scaler.transform(u), 2 * u - 1)  # not stretched to [-1, 1]
    np.testing.assert_array_equal(scaler.inverse_transform(2 * u - 1), u)
    again = Scaler.from_dict(json.loads(json.dumps(scaler.to_dict())))
    np.testing.assert_array_equal(again.transform(u), 2 * u - 1)
    assert "data.scaler=minmax" in error_of(Scaler.fit, u - 0.6, "unit")


@pytest.mark.parametrize("kind", ["minmax", "standard"])
def test_constant_feature_maps_to_zero_and_back_exactly(kind):
    series = np.array([[0.1, 1.0], [0.1, 2.0], [0.1, 4.0]])
    scaler = Scaler.fit(series, kind)
    y = scaler.transform(series)
    assert np.isfinite(y).all()
    np.testing.assert_array_equal(y[:, 0], 0.0)
    np.testing.assert_array_equal(scaler.inverse_transform(y)[:, 0], 0.1)
    assert scaler.to_dict()["scale"][0] == 0.0


def test_float32_stays_float32_and_in_range(x):
    x32 = x.astype(np.float32)
    y = Scaler.fit(x32, "minmax").transform(x32)
    assert y.dtype == np.float32
    assert y.min() >= -1.0 and y.max() <= 1.0


def test_state_is_json_and_rebuilds_the_same_scaler(x):
    scaler = Scaler.fit(x, "standard")
    again = Scaler.from_dict(json.loads(json.dumps(scaler.to_dict())))
    assert again.kind == "standard"
    np.testing.assert_array_equal(again.transform(x), scaler.transform(x))


def test_bad_state_is_an_error():
    assert "scaler state" in error_of(Scaler.from_dict, {"kind": "minmax"})
    state = {"kind": "minmax", "offset": [0.0, 1.0], "scale": [1.0]}
    assert "scaler state" in error_of(Scaler.from_dict, state)


def test_wrong_feature_count_is_an_error(x):
    scaler = Scaler.fit(x, "minmax")
    assert "3 features" in error_of(scaler.transform, np.zeros((4, 2)))


def test_unknown_kind_and_bad_input(x):
    assert "data.scaler" in error_of(Scaler.fit, x, "robust", cls=ConfigError)
    assert "NaN" in error_of(Scaler.fit, np.array([[1.0], [np.nan]]))
    assert "empty" in error_of(Scaler.fit, np.zeros((0, 3)))
