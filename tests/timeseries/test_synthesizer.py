"""TimeSeriesSynthesizer (the DataFrame API), .ts files, panel scoring of any generator's table,
and the training time budget (issue 22)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from helpers import error_of
from tfusion.data.readers import read_raw
from tfusion.data.ts_format import read_ts, sktime_file
from tfusion.errors import ConfigError, DataError
from tfusion.threads import single_thread
from tfusion.timeseries.panel_report import score_tables
from tfusion.timeseries.synthesizer import TimeSeriesSynthesizer

TS = """# a comment
@problemName toy
@timeStamps false
@univariate false
@equalLength false
@classLabel true up down
@data
1,2,3:4,5,6:up
7,?:8,9:down
"""


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    with single_thread():
        yield


def basic_motions(cases: int = 12, steps: int = 40) -> pd.DataFrame:
    """A slice of the real BasicMotions recordings (sktime's .ts file): `cases` recordings
    spread over the four activities, their first `steps` steps, channels dim_0 and dim_1, the
    activity as `class`."""
    raw = read_ts(sktime_file("BasicMotions", "train"))
    frame = pd.DataFrame(dict(zip(raw.names, raw.cells)))
    frame = frame.astype({"case": np.int64, "step": np.int64, "class": str})
    picked = np.unique(np.linspace(0, 39, cases).round())  # the file is sorted by activity
    frame = frame[frame["case"].isin(picked) & (frame["step"] < steps)]
    return frame[["case", "step", "class", "dim_0", "dim_1"]].reset_index(drop=True)


def test_ts_reader_parses_cases_lengths_missing_and_labels(tmp_path: Path):
    path = tmp_path / "toy.ts"
    path.write_text(TS)
    raw = read_raw(path)
    assert raw.names == ("case", "step", "class", "dim_0", "dim_1")
    assert raw.cells[0].tolist() == [0, 0, 0, 1, 1]
    assert raw.cells[1].tolist() == [0, 1, 2, 0, 1]
    assert raw.cells[2].tolist() == ["up"] * 3 + ["down"] * 2
    np.testing.assert_array_equal(raw.cells[3], [1, 2, 3, 7, np.nan])
    np.testing.assert_array_equal(raw.cells[4], [4, 5, 6, 8, 9])


def test_ts_reader_refuses_a_broken_case(tmp_path: Path):
    path = tmp_path / "bad.ts"
    path.write_text(TS.replace("8,9:down", "8,x:down"))
    assert "line 9" in error_of(read_ts, path)
    path.write_text(TS.replace("7,?:8,9:down", "7,8:down"))  # one channel instead of two
    assert "1 channels" in error_of(read_ts, path)


def test_ts_reader_agrees_with_sktime():
    """Our reader against sktime's own loader on the real file (an independent parser)."""
    from sktime.datasets import load_basic_motions

    x, y = load_basic_motions(split="train", return_type="numpy3D")  # (40, 6, 100)
    raw = read_ts(sktime_file("BasicMotions", "train"))
    ours = np.stack(raw.cells[3:], axis=1).reshape(40, 100, 6).transpose(0, 2, 1)
    np.testing.assert_allclose(ours, x)
    labels = raw.cells[2].reshape(40, 100)[:, 0]
    assert [v.lower() for v in labels] == [v.lower() for v in y]


@pytest.fixture(scope="module")
def fitted(tmp_path_factory: pytest.TempPathFactory) -> tuple[TimeSeriesSynthesizer, pd.DataFrame]:
    df = basic_motions()
    synth = TimeSeriesSynthesizer(
        preset="tiny", steps=60, batch_size=16, overrides=["model.width=32", "model.depth=1"]
    )
    return synth.fit(df, entity="case", time="step", static=["class"], categorical=["class"]), df


def test_sample_has_the_input_schema_and_types(fitted):
    synth, df = fitted
    fake = synth.sample(6, seed=1)
    assert list(fake.columns) == list(df.columns)
    assert fake.dtypes.to_dict() == df.dtypes.to_dict()
    assert fake["case"].nunique() == 6
    assert set(fake["class"]) <= set(df["class"])
    per = fake.groupby("case")
    assert (per["class"].nunique() == 1).all()  # an attribute is constant per entity
    assert (per["step"].apply(lambda s: list(s) == list(range(len(s))))).all()
    assert per.size().between(40, 40).all()  # every training recording has 40 steps


def test_conditions_fix_the_attribute_and_refuse_unseen_levels(fitted):
    synth, df = fitted
    level = sorted(set(df["class"]))[0]
    fake = synth.sample(4, conditions={"class": level})
    assert set(fake["class"]) == {level}
    rows = pd.DataFrame({"class": sorted(set(df["class"]))})
    fake = synth.sample(len(rows), conditions=rows)
    assert fake.groupby("case")["class"].first().tolist() == rows["class"].tolist()
    msg = error_of(synth.sample, 2, conditions={"class": "Swimming"}, cls=ConfigError)
    assert "never saw 'Swimming'" in msg
    assert "rows" in error_of(synth.sample, 5, conditions=rows, cls=ConfigError)


def test_save_and_load_give_the_same_samples(fitted, tmp_path: Path):
    synth, _ = fitted
    saved = synth.save(tmp_path / "saved")
    again = TimeSeriesSynthesizer.load(saved)
    pd.testing.assert_frame_equal(again.sample(3, seed=5), synth.sample(3, seed=5))
    assert "exists" in error_of(synth.save, saved, cls=ConfigError)


def test_synthesizer_refuses_misuse():
    assert "fit the synthesizer first" in error_of(
        TimeSeriesSynthesizer().sample, 3, cls=ConfigError
    )
    assert "DataFrame" in error_of(TimeSeriesSynthesizer().fit, [[1, 2]], cls=DataError)


def test_score_tables_is_zero_for_identical_tables_and_sees_a_broken_copy():
    df = basic_motions(cases=10, steps=30)
    same = score_tables(df, df, "case", "step", ["class"], ["class"], window=10)
    assert same["lengths"]["wasserstein"] == 0
    assert same["attributes"]["marginal_mean"] == 0
    assert same["windows"]["marginal_wasserstein"] == pytest.approx(0, abs=1e-12)
    broken = df.copy()
    broken["class"] = df["class"].iloc[0]  # every entity the same class
    broken["dim_0"] = np.random.default_rng(0).permutation(df["dim_0"].to_numpy())  # no order
    broken = broken[broken["step"] < 20]  # and shorter
    worse = score_tables(df, broken, "case", "step", ["class"], ["class"], window=10)
    assert worse["lengths"]["wasserstein"] == pytest.approx(1 / 3)
    assert worse["attributes"]["marginal_mean"] > 0.3
    # one of the two channels shuffled: the means over channels move well away from 0
    assert worse["windows"]["increment_wasserstein"] > 0.02
    assert worse["windows"]["autocorrelation_distance"] > 0.02


def test_max_seconds_stops_training_with_a_checkpoint(tmp_path: Path):
    df = basic_motions(cases=4, steps=20)
    synth = TimeSeriesSynthesizer(
        preset="tiny",
        steps=100_000,
        batch_size=4,
        run=tmp_path / "run",
        overrides=[
            "train.max_seconds=1.5",
            "train.warmup=0",
            "train.log_every=5",
            "model.width=32",
            "model.depth=1",
        ],
    )
    synth.fit(df, entity="case", time="step")
    rows = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert 0 < rows[-1]["step"] < 100_000
    # the cosine decay follows the clock: the budget ends near the floor (lr * 0.05), far
    # below where 100 000 steps would have it
    assert rows[0]["lr"] > 5e-4 and rows[-1]["lr"] < 2e-4
    assert (tmp_path / "run" / "ema.safetensors").is_file()
    assert len(synth.sample(2)) == 2 * 20


def test_score_tables_reads_text_attributes_and_levels_as_the_loader_does():
    # a text data.static column not also listed in categorical had crashed as a "numeric
    # attribute with no finite values"; a category written 1.0 / NaN on one side and 1 / <NA>
    # on the other had scored as entirely different levels (distance 1.0)
    df = basic_motions(cases=10, steps=30)
    df["site"] = np.where(df["case"].astype(str).str[-1].isin(list("02468")), "north", "south")
    same = score_tables(df, df, "case", "step", ["class", "site"], ["class"], window=10)
    assert same["attributes"]["marginal_mean"] == 0
    lvl = (df["step"] % 3).astype(float)
    lvl[df["step"] == 5] = np.nan
    real = df.drop(columns="site").assign(lvl=lvl)
    other = real.assign(lvl=lvl.astype("Int64"))
    got = score_tables(real, other, "case", "step", ["class"], ["class", "lvl"], window=10)
    assert got["categories"]["lvl"]["frequency_tvd"] == 0
    assert got["categories"]["lvl"]["transition_mae"] == 0


def test_an_unused_column_of_another_number_type_does_not_damage_the_run():
    # a complex (or decimal) column left out of the channels had its dtype saved, and loading
    # the run then called data_state.json damaged
    df = basic_motions(cases=6, steps=12)
    df["z"] = (df["step"] + 1j).astype(np.complex128)
    synth = TimeSeriesSynthesizer(
        preset="tiny",
        steps=2,
        batch_size=4,
        window=8,
        overrides=["model.width=16", "model.depth=1"],
    )
    numeric = [c for c in df.columns if c not in ("case", "step", "class", "z")]
    synth.fit(df, entity="case", time="step", columns=numeric)
    assert len(synth.sample(2, seed=0)["case"].unique()) == 2
