"""Property-based hostile input: any CSV text either loads to a clean finite table or raises one
clear one-line DataError/ConfigError; never another exception, never a traceback."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tfusion.data import load_table
from tfusion.errors import ConfigError, DataError
from tfusion.timeseries.config import DataConfig
from tfusion.timeseries.data import prepare

CLEAN = (DataError, ConfigError)

numbers = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False, allow_subnormal=False).map(repr),
    st.integers(-(10**30), 10**30).map(str),
    st.sampled_from(["1e308", "-1e308", "1e-320", "0", "-0", "3,5", "1.5e3"]),
)
junk = st.one_of(
    st.sampled_from(["", "nan", "NA", "null", "inf", "-inf", "abc", " ", "1 2", '"x,y"']),
    st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=5),
)
cells = st.one_of(numbers, numbers, numbers, junk)
headers = st.one_of(
    st.text(
        alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
        min_size=0,
        max_size=6,
    ),
    st.sampled_from(["a", "a", "温度", "Date", "", "é"]),
)


@st.composite
def csv_text(draw):
    delimiter = draw(st.sampled_from([",", ";", "\t", "|"]))
    cols = draw(st.integers(1, 5))
    rows = draw(st.integers(0, 12))
    head = [
        draw(headers).replace(delimiter, "_").replace("\n", "_").replace("\r", "_")
        for _ in range(cols)
    ]
    lines = [delimiter.join(head)]
    for _ in range(rows):
        row = [
            draw(cells).replace(delimiter, "_").replace("\n", " ").replace("\r", " ")
            for _ in range(cols)
        ]
        lines.append(delimiter.join(row))
    return "\n".join(lines) + draw(st.sampled_from(["", "\n", "\r\n"]))


def assert_clean(error: BaseException) -> None:
    message = str(error)
    assert message and "\n" not in message and "Traceback" not in message


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(text=csv_text(), policy=st.sampled_from(["interpolate", "drop", "error"]))
def test_any_csv_loads_cleanly_or_fails_with_one_line(tmp_path, text, policy):
    path = tmp_path / "x.csv"
    path.write_text(text, encoding="utf-8")
    try:
        table = load_table(path, missing=policy)
    except CLEAN as e:
        assert_clean(e)
        return
    x = table.values
    assert x.dtype == np.float64 and x.ndim == 2 and x.shape[0] >= 2
    assert x.shape[1] == len(table.columns) >= 1
    assert np.isfinite(x).all()  # NaN was handled by the policy, inf is refused


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    text=csv_text(),
    window=st.integers(1, 8),
    scaler=st.sampled_from(["minmax", "standard", "none"]),
)
def test_any_csv_prepares_to_finite_windows_or_fails_cleanly(tmp_path, text, window, scaler):
    path = tmp_path / "x.csv"
    path.write_text(text, encoding="utf-8")
    cfg = DataConfig(source=str(path), window=window, scaler=scaler, split="none")
    try:
        data = prepare(cfg)
    except CLEAN as e:
        assert_clean(e)
        return
    w = data.train.to_array()
    assert w.shape[1:] == (window, data.features)
    assert np.isfinite(w).all()
    if scaler == "minmax":
        assert w.min() >= -1 - 1e-9 and w.max() <= 1 + 1e-9


@pytest.mark.parametrize("scale", [1e-300, 1e300])
def test_extreme_magnitudes_scale_without_overflow(tmp_path, scale):
    values = np.sin(np.arange(50))[:, None] * scale
    np.save(tmp_path / "x.npy", values)
    data = prepare(DataConfig(source=str(tmp_path / "x.npy"), window=5, split="none"))
    w = data.train.to_array()
    assert np.isfinite(w).all() and w.max() == pytest.approx(1.0) and w.min() == pytest.approx(-1.0)
    back = data.inverse(w[:1])
    assert math.isclose(float(back.max()), float(values[:5].max()), rel_tol=1e-6)


def test_an_infinite_number_in_the_time_column_is_named(tmp_path):
    from tfusion.data import load_table
    from tfusion.errors import DataError

    rows = ["id,time,v"] + [f"x,{t},{t * 0.5}" for t in range(12)]
    rows[4] = "x,inf,1.0"
    path = tmp_path / "long.csv"
    path.write_text("\n".join(rows) + "\n")
    with pytest.raises(DataError, match=r"'inf'.*finite number"):
        load_table(path, entity_column="id", time_column="time")
    rows[4] = "x,3,1.0"
    path.write_text("\n".join(rows) + "\n")
    assert load_table(path, entity_column="id", time_column="time").values.shape == (12, 1)


def test_day_first_dates_are_read_day_first(tmp_path):
    import pandas as pd

    from tfusion.data import load_table

    days = pd.date_range("2020-01-01", periods=60, freq="D").strftime("%d/%m/%Y")
    rows = ["time,v"] + [f"{t},{i}" for i, t in enumerate(days)]
    path = tmp_path / "dayfirst.csv"
    path.write_text("\n".join(rows) + "\n")
    table = load_table(path, time_column="time")
    # 60 daily rows in file order, no gaps: 02/01/2020 is 2 January, not 1 February
    assert table.values[:, 0].tolist() == list(range(60))
    assert table.frequency == "24h" and not table.notices


def test_the_row_index_pandas_writes_is_not_read_as_a_feature(tmp_path):
    import pandas as pd

    from tfusion.data import load_table

    frame = pd.DataFrame({"a": np.sin(np.arange(30.0)), "b": np.cos(np.arange(30.0))})
    frame.to_csv(tmp_path / "with_index.csv")  # header ",a,b", first column 0, 1, 2, ...
    table = load_table(tmp_path / "with_index.csv")
    assert table.columns == ("a", "b") and any("row index" in n for n in table.notices)
    np.testing.assert_allclose(table.values, frame.to_numpy(), atol=1e-12)
    # a named counter, or an unnamed column that is no index, stays a feature
    frame.rename_axis("step").to_csv(tmp_path / "named.csv")
    assert load_table(tmp_path / "named.csv").columns == ("step", "a", "b")
    frame.set_index(pd.Index(frame["a"].to_numpy() * 7)).to_csv(tmp_path / "other.csv")
    assert load_table(tmp_path / "other.csv").columns[1:] == ("a", "b")
    assert len(load_table(tmp_path / "other.csv").columns) == 3


def test_a_dropped_text_column_that_looks_like_sequence_ids_says_data_entity(tmp_path):
    from tfusion.data import load_table

    rows = ["id,date,v"] + [
        f"{e},2020-01-{d:02d},{d * 0.5}" for e in ("GOOG", "MSFT", "AAPL") for d in range(1, 9)
    ]
    path = tmp_path / "long.csv"
    path.write_text("\n".join(rows) + "\n")
    notes = load_table(path).notices
    ids = [n for n in notes if "'id'" in n]
    dates = [n for n in notes if "'date'" in n]
    assert len(ids) == 1 and "data.entity=id" in ids[0] and "3 values" in ids[0]
    assert len(dates) == 1 and "data.entity" not in dates[0]  # every date differs: no ids
    assert not any("data.entity" in n for n in load_table(path, entity_column="id").notices)
    # the days of an hourly series also come in blocks, but they are dates, not ids
    hourly = ["day,hour,v"] + [
        f"2020-01-{d:02d},{h}:00,{h}" for d in range(1, 5) for h in range(24)
    ]
    path.write_text("\n".join(hourly) + "\n")
    assert not any("data.entity" in n for n in load_table(path).notices)
