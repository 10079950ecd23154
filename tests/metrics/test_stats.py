"""mean ± 95% t-interval."""

import math

import pytest

from tfusion.metrics.stats import format_ci, mean_ci


def test_t_interval_matches_the_textbook_value():
    s = mean_ci([1.0, 2.0, 3.0, 4.0, 5.0])
    # mean 3, sample std sqrt(2.5), t_{0.975, 4} = 2.776445
    assert s["mean"] == 3.0
    assert s["ci95"] == pytest.approx(2.776445 * math.sqrt(2.5 / 5), rel=1e-6)
    assert format_ci(s) == "3.000 ± 1.963"


def test_single_value_has_no_interval():
    s = mean_ci([0.25])
    assert s["mean"] == 0.25 and math.isnan(s["ci95"])
    assert format_ci(s) == "0.250"
    with pytest.raises(ValueError):
        mean_ci([])
