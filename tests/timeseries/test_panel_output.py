"""Panels written back as the user wrote them: entity ids that never merge, codes with leading
zeros, exact integer times, time zones, calendar steps, sequences the right way round, only
levels the model learned, the same entity at any batch size, and held-out entities weighed
alike when scored."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tfusion.cli.main import main
from tfusion.data.cells import number_text
from tfusion.data.tables import load_table
from tfusion.threads import single_thread
from tfusion.timeseries.config import DataConfig
from tfusion.timeseries.data import prepare
from tfusion.timeseries.entities import entity_frame, write_sequences
from tfusion.timeseries.evaluate import entity_balanced
from tfusion.timeseries.panel_data import kept_levels
from tfusion.timeseries.sample import Panel, TimeSeriesRun, generate_panel

TINY = ["model.preset=tiny", "model.width=32", "model.depth=1", "train.progress=false"]


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    with single_thread():
        yield


def write(path: Path, rows: list[dict]) -> str:
    pd.DataFrame(rows).to_csv(path, index=False)
    return str(path)


def test_ids_that_read_as_the_same_number_stay_apart(tmp_path):
    ids = ["1234567890123456", "1234567890123457", "0042", "42"]
    rows = [
        {"id": e, "t": t + 100 * k, "zip": ("02139", "2139", "10001", "02139")[k], "x": t * k}
        for k, e in enumerate(ids)
        for t in range(5)
    ]
    src = write(tmp_path / "ids.csv", rows)
    for time in (None, "t"):
        table = load_table(src, entity_column="id", time_column=time)
        assert table.entities == tuple(ids)
        # with a time column no rows are invented between two merged entities' times
        assert np.diff(table.bounds).tolist() == [5, 5, 5, 5]
    zips = load_table(src, entity_column="id", static_columns=["zip"], categorical_columns=["zip"])
    assert zips.attributes["zip"].tolist() == ["02139", "2139", "10001", "02139"]
    assert zips.kinds["zip"] == "text"  # written back with its leading zero
    assert zips.kinds["x"] == "int"


def test_codes_with_leading_zeros_keep_them_when_no_two_would_merge(tmp_path):
    # "02139", "00501" and "10001" never collide as numbers, so the zeros had been dropped
    # (levels 2139 / 501, ids 7 / 8 for 007 / 008) although the column reads as text
    rows = [
        {
            "id": f"00{e}",
            "t": t,
            "zip": ("02139", "10001", "00501")[e % 3],
            "code": "0" + str(t % 3),
            "x": t * 0.5,
        }
        for e in range(7, 10)
        for t in range(5)
    ]
    src = write(tmp_path / "z.csv", rows)
    table = load_table(
        src, entity_column="id", time_column="t", static_columns=["zip"],
        categorical_columns=["zip", "code"],
    )  # fmt: skip
    assert table.entities == ("007", "008", "009")
    assert table.attributes["zip"].tolist() == ["10001", "00501", "02139"]
    assert sorted(table.levels[table.categorical.index("code")]) == ["00", "01", "02"]


def test_number_text_keeps_distinct_numbers_apart():
    assert number_text(42.0) == "42" and number_text(-3.0) == "-3" and number_text(0.1) == "0.1"
    assert number_text(1234567890123456.0) != number_text(1234567890123457.0)
    assert float(number_text(1 / 3)) == 1 / 3
    assert float(number_text(2.0**60)) == 2.0**60


def test_npz_sequences_are_written_forward_under_reverse(tmp_path):
    # the model sees each sequence reversed; steps past a sequence's length are padding
    x = np.zeros((2, 5, 1), dtype=np.float32)
    x[0, :3, 0] = [2, 1, 0]
    x[1, :, 0] = [4, 3, 2, 1, 0]
    x[0, 3:, 0] = 9.0  # padding
    panel = Panel(x, np.array([3, 5]), None, np.zeros((2, 1), np.float32))
    write_sequences(panel, None, tmp_path / "f.npz", reverse=True)
    w = np.load(tmp_path / "f.npz")["windows"][..., 0]
    assert w.tolist() == [[0, 1, 2, 0, 0], [0, 1, 2, 3, 4]]
    write_sequences(panel, None, tmp_path / "b.npz")
    assert np.load(tmp_path / "b.npz")["windows"][0, :, 0].tolist() == [2, 1, 0, 0, 0]


def frame_times(state: dict, lengths=(3, 2)) -> pd.Series:
    x = np.zeros((len(lengths), max(lengths), 1), dtype=np.float32)
    frame = entity_frame(x, ["v"], state, "id", "at", lengths=np.asarray(lengths))
    return frame["at"]


def test_integer_times_stay_exact_integers(tmp_path):
    at = frame_times({"time_kind": "number", "time_step": 3600.0, "start_times": [1700000000]})
    assert at.dtype == np.int64
    assert at.tolist() == [1700000000, 1700003600, 1700007200, 1700000000, 1700003600]
    half = frame_times({"time_kind": "number", "time_step": 0.5, "start_times": [2.0]})
    assert half.tolist() == [2.0, 2.5, 3.0, 2.0, 2.5]


def test_dates_keep_their_zone_and_calendar_steps(tmp_path):
    rows = [
        {"id": e, "at": f"2024-03-01T{9 + h:02d}:00:00+01:00", "v": h}
        for e in "ab"
        for h in range(4)
    ]
    table = load_table(write(tmp_path / "tz.csv", rows), entity_column="id", time_column="at")
    assert table.time_zone == "+01:00" and table.calendar is None
    state = {"time_kind": "datetime", "time_step": table.step, "time_zone": table.time_zone}
    at = frame_times({**state, "start_times": [int(table.starts[0])]})
    assert str(at.iloc[0]) == "2024-03-01 09:00:00+01:00"
    naive = frame_times({**state, "time_zone": None, "start_times": [int(table.starts[0])]})
    assert str(naive.iloc[0]) == "2024-03-01 08:00:00"  # UTC, as before, for naive input

    months = [{"id": e, "m": f"2020-{k:02d}-01", "v": k} for e in "ab" for k in range(1, 8)]
    table = load_table(write(tmp_path / "m.csv", months), entity_column="id", time_column="m")
    assert table.calendar == "MS" and table.time_zone is None
    state = {"time_kind": "datetime", "time_step": table.step, "calendar": table.calendar}
    at = frame_times({**state, "start_times": [int(table.starts[0])]}, lengths=(12,))
    assert [d.day for d in at] == [1] * 12  # a fixed 31-day step drifted to 2020-12-06
    assert str(at.iloc[-1].date()) == "2020-12-01"


def test_levels_only_left_out_sequences_have_are_not_learned(tmp_path):
    codes = np.array([[0], [1], [0], [2], [2]])  # rows 3 and 4: a left-out sequence
    levels, renumbered = kept_levels(
        (("a", "b", "broken"),), codes, np.array([1, 1, 1, 0, 0], bool)
    )
    assert levels == (("a", "b"),) and renumbered[:, 0].tolist() == [0, 1, 0, -1, -1]
    rows = [
        {"id": f"e{k}", "t": t, "s": "xy"[(t + k) % 2], "v": float(t)}
        for k in range(4)
        for t in range(6)
    ]
    rows.append({"id": "lonely", "t": 0, "s": "broken", "v": 0.0})
    src = write(tmp_path / "s.csv", rows)
    d = prepare(DataConfig(source=src, entity="id", time="t", categorical=("s",), window=4))
    assert d.codec.categorical == (("s", ("x", "y")),)


def test_entity_balanced_weighs_every_entity_alike():
    groups = np.repeat([0, 1], [900, 100])  # a long entity and a short one
    pick = entity_balanced(groups, seed=0)
    assert len(pick) == 1000 and abs((groups[pick] == 1).mean() - 0.5) < 0.06
    assert set(pick[groups[pick] == 1]) <= set(range(900, 1000))
    assert len(np.unique(pick[groups[pick] == 1])) > 80  # the short entity's windows all drawn


def test_windowed_panels_record_each_test_window_entity(tmp_path):
    rng = np.random.default_rng(0)
    rows = [
        {"id": f"e{k}", "t": t, "sector": "ab"[k % 2], "x": rng.normal()}
        for k in range(20)
        for t in range(40 if k % 2 else 8)
    ]
    src = write(tmp_path / "w.csv", rows)
    d = prepare(DataConfig(source=src, entity="id", time="t", static=("sector",), window=6))
    assert d.test_groups is not None and len(d.test_groups) == len(d.test_attrs)
    sector = d.codec.decode_attributes(d.test_attrs)[0]["sector"].to_numpy()
    for g in np.unique(d.test_groups):  # one entity: one sector
        assert len(set(sector[d.test_groups == g])) == 1


def machines(path: Path, n: int = 12) -> str:
    rng = np.random.default_rng(1)
    rows = []
    for k in range(n):
        for t in range(6 + k % 4):
            rows.append(
                {
                    "id": f"m{k}",
                    "day": f"2024-01-{t + 1:02d}",
                    "sector": "ab"[k % 2],
                    "x": rng.normal() + k,
                    "y": int(rng.integers(0, 30)),
                    "state": ("on", "off", "idle")[(t + k) % 3],
                }
            )
    return write(path, rows)


def test_categorical_channels_without_attributes_are_written_as_levels(tmp_path):
    src = machines(tmp_path / "m.csv")
    run = str(tmp_path / "run")
    data = [f"data.source={src}", "data.entity=id", "data.time=day", "data.window=6"]
    assert main(["train", "--out", run, *data, "data.categorical=[state]", *TINY,
                 "train.steps=3", "train.batch_size=4"]) == 0  # fmt: skip
    out = tmp_path / "s.csv"
    assert main(["sample", run, "--entities", "3", "--out", str(out)]) == 0
    df = pd.read_csv(out)
    assert list(df.columns) == ["id", "day", "x", "y", "state"]  # the input's order
    assert set(df["state"]) <= {"on", "off", "idle"}
    assert df["y"].dtype == np.int64


def test_a_panel_entity_does_not_depend_on_the_batch(tmp_path):
    src = machines(tmp_path / "m.csv")
    run = tmp_path / "run"
    args = [f"data.source={src}", "data.entity=id", "data.time=day", "data.whole=true",
            "data.static=[sector]", "data.split=none", *TINY, "train.steps=5"]  # fmt: skip
    assert main(["train", "--out", str(run), *args]) == 0
    r = TimeSeriesRun.load(run)
    a = generate_panel(r, 5, seed=3, steps=3, batch_size=5)
    b = generate_panel(r, 5, seed=3, steps=3, batch_size=2)
    assert a.lengths.tolist() == b.lengths.tolist() and len(set(a.lengths.tolist())) > 1
    for i, n in enumerate(a.lengths):
        np.testing.assert_allclose(a.x[i, :n], b.x[i, :n], atol=1e-4)
    assert np.abs(a.x[0, : a.lengths[0]] - a.x[1, : a.lengths[0]]).max() > 1e-3


def test_boolean_columns_come_back_by_the_nearer_value():
    from tfusion.timeseries.synthesizer import _restore_dtypes

    frame = pd.DataFrame({"on": [0.2, 0.7, -0.1, 1.3], "n": [1.0, 2.0, 3.0, 4.0]})
    out = _restore_dtypes(frame, {"on": "bool", "n": "int32"})
    assert out["on"].tolist() == [False, True, False, True]  # astype(bool) made 0.2 True
    assert str(out["n"].dtype) == "int32"


def test_missing_months_are_found_on_the_calendar(tmp_path):
    rows = [
        {"id": e, "m": d.strftime("%Y-%m-%d"), "v": float(k)}
        for e in "ab"
        for k, d in enumerate(pd.date_range("2020-01-01", periods=14, freq="MS"))
        if not (e == "a" and k in (4, 5))  # May and June 2020 missing for a
    ]
    table = load_table(write(tmp_path / "m.csv", rows), entity_column="id", time_column="m")
    assert table.calendar == "MS" and table.frequency == "MS"
    assert np.diff(table.bounds).tolist() == [14, 14]  # the two months came back
    assert table.values[:14, 0].tolist() == [float(k) for k in range(14)]  # interpolated
    assert any("inserted 2 missing time steps" in n for n in table.notices)
    assert not any("differ from the median" in n for n in table.notices)  # 28-31 days: 1 step
    quarters = [
        {"id": "q", "m": d.strftime("%Y-%m-%d"), "v": float(k)}
        for k, d in enumerate(pd.date_range("2019-03-31", periods=8, freq="QE"))
    ]
    table = load_table(write(tmp_path / "q.csv", quarters), entity_column="id", time_column="m")
    assert table.calendar == "3ME"
    hours = [
        {"id": "h", "m": d.strftime("%Y-%m-%d %H:%M"), "v": float(k)}
        for k, d in enumerate(pd.date_range("2019-03-01", periods=8, freq="h"))
    ]
    table = load_table(write(tmp_path / "h.csv", hours), entity_column="id", time_column="m")
    assert table.calendar is None  # a fixed step
