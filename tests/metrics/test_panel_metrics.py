"""Panel scores: identical inputs give 0, hand-computed cases, and broken synthetic data is seen."""

import json
import math

import numpy as np
import pandas as pd
import pytest

from tfusion.errors import DataError
from tfusion.metrics.panel import (
    attribute_scores,
    category_scores,
    coherence_score,
    correlation_ratio,
    cramers_v,
    lag1_autocorrelation,
    length_scores,
)


def assert_plain(value) -> None:
    """Only JSON's own Python types (numpy float64 is a float subclass, so check exact types)."""
    if isinstance(value, dict):
        for k, v in value.items():
            assert type(k) is str, k
            assert_plain(v)
    elif isinstance(value, list):
        for v in value:
            assert_plain(v)
    else:
        assert type(value) in (float, int, str, bool, type(None)), type(value)
        if type(value) is float:
            assert math.isfinite(value)
    json.dumps(value)


# --- lengths ----------------------------------------------------------------------------------


def test_lengths_identical_are_zero():
    x = np.array([5, 7, 7, 12, 30])
    out = length_scores(x, x.copy())
    assert out["wasserstein"] == 0.0 and out["ks"] == 0.0
    assert_plain(out)


def test_lengths_hand_computed():
    out = length_scores(np.array([2, 4]), np.array([3, 3]))
    assert out["wasserstein"] == pytest.approx(1 / 3)  # W1 = 1, real mean 3
    assert out["ks"] == pytest.approx(0.5)
    assert (out["real_mean"], out["synthetic_mean"]) == (3.0, 3.0)
    assert (out["real_std"], out["synthetic_std"]) == (1.0, 0.0)
    assert_plain(out)


def test_lengths_empty_raises():
    with pytest.raises(DataError):
        length_scores(np.array([]), np.array([3]))


# --- attributes -------------------------------------------------------------------------------


def test_attributes_identical_are_zero():
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"age": rng.normal(40, 10, 200), "city": rng.choice(["a", "b", "c"], 200)})
    out = attribute_scores(df, df.copy(), ["age"], ["city"])
    assert out["marginal"] == {"age": 0.0, "city": 0.0}
    assert out["association_mean"] == pytest.approx(0.0)
    assert_plain(out)


def test_categorical_tvd_and_unseen_category():
    real = pd.DataFrame({"c": list("aabb")})
    out = attribute_scores(real, pd.DataFrame({"c": list("aaab")}), [], ["c"])
    assert out["marginal"]["c"] == pytest.approx(0.25)
    # "b" only in real, "z" only in synthetic: both count
    out = attribute_scores(
        pd.DataFrame({"c": list("aab")}), pd.DataFrame({"c": list("aaz")}), [], ["c"]
    )
    assert out["marginal"]["c"] == pytest.approx(1 / 3)
    assert out["association_mean"] is None  # a single attribute has no pairs
    assert out["association"] == {}


def test_numeric_marginal_is_w1_over_real_std():
    real = pd.DataFrame({"x": [0.0, 1.0, 2.0, 3.0]})
    out = attribute_scores(real, real + 1.0, ["x"], [])
    assert out["marginal"]["x"] == pytest.approx(1.0 / np.std([0, 1, 2, 3]))


def test_constant_columns_give_no_nan():
    real = pd.DataFrame(
        {"n": [5.0] * 6, "m": [1.0, 2, 3, 4, 5, 6], "c": ["k"] * 6, "d": list("xyxyxy")}
    )
    out = attribute_scores(real, real.copy(), ["n", "m"], ["c", "d"])
    assert_plain(out)  # also asserts every float is finite
    assert out["marginal"]["n"] == 0.0
    for pair in ("n|m", "n|c", "n|d", "m|c", "c|d"):
        assert out["association"][pair]["real"] == 0.0, pair
    # real constant, synthetic not: raw W1, still finite
    synth = real.assign(n=[5.0, 5, 5, 7, 7, 7])
    assert attribute_scores(real, synth, ["n"], [])["marginal"]["n"] == pytest.approx(1.0)


def test_association_hand_computed():
    g = pd.Series(list("xxyy"))
    assert cramers_v(g, pd.Series(list("ppqq"))) == pytest.approx(1.0)
    assert cramers_v(g, pd.Series(list("pqpq"))) == pytest.approx(0.0)
    assert correlation_ratio(np.array([0.0, 0, 1, 1]), g) == pytest.approx(1.0)
    assert correlation_ratio(np.array([0.0, 1, 0, 1]), g) == pytest.approx(0.0)
    # 3x2 table [[2,0],[1,1],[0,2]], expected 1 everywhere: chi2 = 4, n = 6, k = 1
    a, b = pd.Series(list("uuvvww")), pd.Series(list("ppqpqq"))
    assert cramers_v(a, b) == pytest.approx(math.sqrt(4 / 6))


def test_association_detects_lost_relation():
    rng = np.random.default_rng(1)
    n = 500
    a = rng.normal(size=n)
    cat = rng.choice(["x", "y", "z"], n)
    real = pd.DataFrame({"a": a, "b": a, "c": cat, "d": cat, "e": np.where(cat == "x", 10.0, 0.0)})
    synth = pd.DataFrame(
        {
            "a": rng.normal(size=n),
            "b": rng.normal(size=n),
            "c": rng.choice(["x", "y", "z"], n),
            "d": rng.choice(["x", "y", "z"], n),
            "e": rng.permutation(real["e"].to_numpy()),
        }
    )
    out = attribute_scores(real, synth, ["a", "b", "e"], ["c", "d"])
    assoc = out["association"]
    assert assoc["a|b"]["real"] == pytest.approx(1.0)
    assert assoc["a|b"]["difference"] > 0.8
    assert assoc["c|d"]["real"] == pytest.approx(1.0) and assoc["c|d"]["difference"] > 0.8
    assert assoc["e|c"]["real"] == pytest.approx(1.0) and assoc["e|c"]["difference"] > 0.8
    # the marginals were kept, so they stay small while the associations are large
    assert out["marginal_mean"] < 0.2 < out["association_mean"]
    assert_plain(out)


def test_attributes_missing_column_raises():
    df = pd.DataFrame({"a": [1.0, 2.0]})
    with pytest.raises(DataError):
        attribute_scores(df, df, ["a", "b"], [])


# --- categorical channels ---------------------------------------------------------------------


def test_categories_identical_are_zero():
    seqs = [np.array([0, 1, 2, 2, 1]), np.array([2, 0])]
    out = category_scores(seqs, [s.copy() for s in seqs], 3)
    assert out["frequency_tvd"] == 0.0 and out["transition_mae"] == 0.0
    assert_plain(out)


def test_categories_hand_computed():
    real = [np.array([0, 1, 0, 1]), np.array([2, 2, 3])]
    synth = [np.array([0, 0, 1, 3]), np.array([2, 2])]
    out = category_scores(real, synth, 4)
    # frequencies: real [2,2,2,1]/7, synthetic [2,1,2,1]/6 -> TVD 5/42
    assert out["real_frequencies"] == pytest.approx([2 / 7, 2 / 7, 2 / 7, 1 / 7])
    assert out["synthetic_frequencies"] == pytest.approx([2 / 6, 1 / 6, 2 / 6, 1 / 6])
    assert out["frequency_tvd"] == pytest.approx(5 / 42)
    # real rows: 0->[0,1,0,0] 1->[1,0,0,0] 2->[0,0,.5,.5] 3->none
    # synth rows: 0->[.5,.5,0,0] 1->[0,0,0,1] 2->[0,0,1,0] 3->none (skipped)
    # |diff| sums 1 + 2 + 1 over 3 rows x 4 columns
    assert out["transition_mae"] == pytest.approx(4 / 12)


def test_transition_row_on_one_side_counts_fully():
    # real has only 0->1, synthetic only 1->0: each row is compared with a zero row
    out = category_scores([np.array([0, 1])], [np.array([1, 0])], 2)
    assert out["frequency_tvd"] == 0.0
    assert out["transition_mae"] == pytest.approx(0.5)


def test_category_only_on_one_side_and_bad_codes():
    out = category_scores([np.array([0, 0, 1])], [np.array([0, 0, 2])], 3)
    assert out["frequency_tvd"] == pytest.approx(1 / 3)
    with pytest.raises(DataError):
        category_scores([np.array([0, 3])], [np.array([0])], 3)


# --- coherence --------------------------------------------------------------------------------


def panel(n: int, seed: int, channels: int = 2) -> tuple[list[np.ndarray], np.ndarray]:
    """Sequences of random length whose class sets the mean: class 0 -> -1, class 1 -> +1."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    x = [(2 * c - 1) + rng.normal(size=(rng.integers(5, 30), channels)) for c in y]
    return x, y


@pytest.fixture(scope="module")
def real_panel():
    return panel(120, seed=0)


def test_coherence_identical_gap_near_zero(real_panel):
    x, y = real_panel
    out = coherence_score(x, y, x, y)
    assert out["tstr_accuracy"] == 1.0
    assert abs(out["gap"]) < 0.05
    assert out["majority"] == pytest.approx(np.bincount(y).max() / y.size)
    assert_plain(out)


def test_coherence_same_process_and_shuffled_labels(real_panel):
    x, y = real_panel
    sx, sy = panel(120, seed=1)
    good = coherence_score(x, y, sx, sy)
    assert good["tstr_accuracy"] > 0.9
    shuffled = coherence_score(x, y, sx, np.random.default_rng(2).permutation(sy))
    assert 0.3 < shuffled["tstr_accuracy"] < 0.7
    assert shuffled["gap"] > 0.25


def test_coherence_single_synthetic_class_and_odd_sequences(real_panel):
    x, y = real_panel
    sx, _ = panel(30, seed=3)
    out = coherence_score(x, y, sx, np.ones(30, dtype=int))
    assert out["tstr_accuracy"] == pytest.approx(np.mean(y == 1))
    # 1-D sequences, length-1 sequences and constant sequences are accepted
    odd = [np.array([1.0]), np.zeros(4), np.arange(7.0), np.ones(3)] * 3
    out = coherence_score(odd, np.array([0, 1] * 6), odd, np.array([0, 1] * 6))
    assert_plain(out)
    assert lag1_autocorrelation(np.ones((5, 1)))[0] == 0.0
