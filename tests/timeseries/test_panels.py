"""Panels: (N, L, C) sequences from .npy/.npz and long-format tables with data.entity/time."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from helpers import error_of
from tfusion.errors import ConfigError
from tfusion.timeseries.config import DataConfig
from tfusion.timeseries.data import prepare


def sequences(n: int = 10, length: int = 6, c: int = 2) -> np.ndarray:
    # sequence k holds values near 10 * k: a window mixing two sequences is detectable
    base = 10.0 * np.arange(n)[:, None, None]
    return base + np.linspace(0, 1, length)[None, :, None] + np.arange(c)[None, None, :] * 0.1


def seq_of(window: np.ndarray) -> np.ndarray:
    """The sequence number every value of an (unscaled) window comes from."""
    return np.floor(window[..., 0] / 10.0 + 0.01).astype(int)  # float32 round trips


def test_npy_sequences_train_windows_split_over_sequences(tmp_path):
    x = sequences()
    np.save(tmp_path / "s.npy", x)
    prep = prepare(DataConfig(source=str(tmp_path / "s.npy"), window=6, test_fraction=0.3))
    assert prep.layout == "windows" and prep.columns == ("f0", "f1")
    assert prep.train.to_array().shape == (7, 6, 2) and len(prep.test) == 3
    train = prep.inverse(prep.train.to_array())
    test = prep.inverse(prep.test.to_array())
    train_seq, test_seq = set(seq_of(train)[:, 0]), set(seq_of(test)[:, 0])
    assert not train_seq & test_seq and len(train_seq | test_seq) == 10
    np.testing.assert_allclose(np.sort(train[:, 0, 0]), [10.0 * k for k in sorted(train_seq)])
    # the scaler saw the training windows only: they span [-1, 1] exactly
    scaled = prep.train.to_array()
    assert scaled.min() == pytest.approx(-1) and scaled.max() == pytest.approx(1)
    state = prep.state()
    assert state["layout"] == "windows" and state["sequences"] == 10
    assert state["sequence_length"] == 6


def test_shorter_windows_never_cross_sequences(tmp_path):
    np.save(tmp_path / "s.npy", sequences(4, 6, 1))
    prep = prepare(DataConfig(source=str(tmp_path / "s.npy"), window=4, stride=1, split="none"))
    w = prep.inverse(prep.train.to_array())
    assert w.shape == (12, 4, 1)  # 3 windows in each of 4 sequences
    assert (seq_of(w) == seq_of(w)[:, :1]).all()
    assert "lower data.window to at most 6" in error_of(
        prepare, DataConfig(source=str(tmp_path / "s.npy"), window=7)
    )
    assert "independent" in error_of(
        prepare,
        DataConfig(source=str(tmp_path / "s.npy"), window=4, split="time"),
        cls=ConfigError,
    )
    assert "without data.mmap" in error_of(
        prepare, DataConfig(source=str(tmp_path / "s.npy"), window=4, mmap=True), cls=ConfigError
    )


def test_npz_with_string_labels_and_columns(tmp_path):
    x = sequences(8, 5, 2)
    labels = np.array(["up", "down"] * 4)
    np.savez(tmp_path / "s.npz", windows=x, labels=labels, columns=np.array(["a", "b"]))
    cfg = DataConfig(source=str(tmp_path / "s.npz"), window=5, label="labels", test_fraction=0.25)
    prep = prepare(cfg)
    assert prep.columns == ("a", "b") and prep.classes == ("down", "up")
    for part in (prep.train, prep.test):
        k = seq_of(prep.inverse(part.to_array()))[:, 0]
        expected = [1 if labels[i] == "up" else 0 for i in k]
        assert prep.labels(part).tolist() == expected
    # without data.label the labels are not used, and the notice says how to use them
    plain = prepare(DataConfig(source=str(tmp_path / "s.npz"), window=5))
    assert plain.classes == () and any("data.label=labels" in n for n in plain.notices)
    bad = DataConfig(source=str(tmp_path / "s.npz"), window=5, label="kind")
    assert "data.label=labels" in error_of(prepare, bad, cls=ConfigError)


def test_npz_single_array_under_any_name(tmp_path):
    np.savez(tmp_path / "s.npz", whatever=sequences(5, 4, 3))
    prep = prepare(DataConfig(source=str(tmp_path / "s.npz"), window=4, split="none"))
    assert prep.train.to_array().shape == (5, 4, 3)


def test_sequence_nan_policies(tmp_path):
    x = sequences(6, 5, 1)
    x[2, 1, 0] = np.nan
    np.save(tmp_path / "s.npy", x)
    src = str(tmp_path / "s.npy")
    assert "sequence 2, step 1" in error_of(
        prepare, DataConfig(source=src, window=5, missing="error")
    )
    dropped = prepare(DataConfig(source=src, window=5, missing="drop", split="none"))
    assert len(dropped.train) == 5 and "dropped 1 of 6 sequences" in " ".join(dropped.notices)
    assert 2 not in seq_of(dropped.inverse(dropped.train.to_array()))
    filled = prepare(DataConfig(source=src, window=5, split="none"))
    w = filled.inverse(filled.train.to_array())
    np.testing.assert_allclose(w[2, 1, 0], (x[2, 0, 0] + x[2, 2, 0]) / 2, rtol=1e-5)


def long_table(tmp_path: Path, shuffle: bool = True) -> tuple[str, dict[str, np.ndarray]]:
    """3 entities of 20, 12 and 5 hourly rows (values near 10 * k), rows shuffled."""
    rng = np.random.default_rng(0)
    lines, series = [], {}
    for k, (name, n) in enumerate([("a", 20), ("b", 12), ("c", 5)]):
        v = 10.0 * k + np.arange(n) / 100
        series[name] = v
        for i in range(n):
            lines.append(f"{name},2024-01-01 {i:02d}:00,{float(v[i])!r},{float(v[i]) * 2!r}")
    order = rng.permutation(len(lines)) if shuffle else np.arange(len(lines))
    # keep the first row of each entity first-seen in order a, b, c
    path = tmp_path / "long.csv"
    path.write_text("id,ts,x,y\n" + "\n".join(lines[i] for i in order) + "\n")
    return str(path), series


def test_entities_windows_never_cross_and_time_restores_order(tmp_path):
    src, series = long_table(tmp_path)
    prep = prepare(
        DataConfig(source=src, entity="id", time="ts", window=8, split="none", scaler="none")
    )
    assert prep.columns == ("x", "y") and prep.layout == "entities"
    w = prep.train.to_array().astype(np.float64)
    assert w.shape == (13 + 5, 8, 2)  # a: 20 - 8 + 1, b: 12 - 8 + 1, c too short
    assert (seq_of(w) == seq_of(w)[:, :1]).all()
    assert (np.diff(w[..., 0], axis=1) > 0).all()  # time order restored inside every window
    np.testing.assert_allclose(w[0, :, 0], series["a"][:8], rtol=1e-6)
    assert any("left out 1 of 3 entities shorter" in n for n in prep.notices)
    state = prep.state()
    assert state["entities"]["count"] == 3 and state["frequency"] == "h"
    assert state["entity"] == "id" and state["time"] == "ts"
    assert state["entities"]["kept"] == ["a", "b"] or state["entities"]["kept"] == ["b", "a"]
    too_long = DataConfig(source=src, entity="id", time="ts", window=30)
    assert "at most 20" in error_of(prepare, too_long)


def test_entity_first_seen_order(tmp_path):
    src, _ = long_table(tmp_path, shuffle=False)
    prep = prepare(DataConfig(source=src, entity="id", time="ts", window=4, split="none"))
    assert prep.state()["entities"]["kept"] == ["a", "b", "c"]


def test_entity_time_split_cuts_each_entity(tmp_path):
    src, _ = long_table(tmp_path)
    cfg = DataConfig(source=src, entity="id", time="ts", window=4, split="time", scaler="none")
    prep = prepare(cfg)
    test = prep.test.to_array()
    # a: rows 16..19 are test (20 * 0.2), b: rows 10..11 < window; c: 4 train rows, 1 test row
    assert len(test) == 1 and test[0, 0, 0] == pytest.approx(0.16)
    train = prep.train.to_array()
    k = seq_of(train)
    assert (k == k[:, :1]).all() and set(k[:, 0]) == {0, 1, 2}
    # the cut of each entity: a at row 16 of 20, b at 10 of 12, c at 4 of 5
    for entity, cut in enumerate([16, 10, 4]):
        assert train[k[:, 0] == entity][..., 0].max() < 10 * entity + cut / 100 - 1e-4


def test_entity_random_split_and_labels(tmp_path):
    lines = ["id,t,v,cls"]
    for k, name in enumerate(["p", "q"]):
        for i in range(12):
            lines.append(f"{name},{i},{10 * k + i / 100},{'lo' if k == 0 else 'hi'}")
    (tmp_path / "l.csv").write_text("\n".join(lines) + "\n")
    cfg = DataConfig(
        source=str(tmp_path / "l.csv"), entity="id", time="t", label="cls", window=4, seed=1
    )
    prep = prepare(cfg)
    assert prep.classes == ("hi", "lo") and prep.columns == ("v",)
    for part in (prep.train, prep.test):
        k = seq_of(prep.inverse(part.to_array()))
        assert (k == k[:, :1]).all()
        assert prep.labels(part).tolist() == [1 if i == 0 else 0 for i in k[:, 0]]
    assert len(prep.train) + len(prep.test) == 2 * 9
    assert prep.state()["frequency"] == "1"


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ("a,2024-01-01,1\na,yesterday,2\na,2024-01-03,3\n", "'yesterday' at row 1 (line 3)"),
        ("a,1,1\na,2,2\na,2,3\n", "entity 'a' has time 2 twice"),
        ("a,1,1\n,2,2\na,3,3\n", "entity column 'id' of"),
        ("a,1,1\nnan,2,2\na,3,3\n", "row 1 (line 3)"),
    ],
)
def test_bad_entity_and_time_cells(tmp_path, rows, message):
    (tmp_path / "b.csv").write_text("id,ts,v\n" + rows)
    cfg = DataConfig(source=str(tmp_path / "b.csv"), entity="id", time="ts", window=2)
    assert message in error_of(prepare, cfg)


def test_time_gap_notice_and_entity_interpolation(tmp_path):
    lines = ["id,ts,v"]
    for i in [0, 1, 2, 5, 6, 7, 8]:  # two steps missing after 2: one gap
        lines.append(f"a,{i},{i}")
    lines += ["b,0,", "b,1,100", "b,2,102", "b,3,104"]  # NaN at b's start: nearest of b, not a
    (tmp_path / "g.csv").write_text("\n".join(lines) + "\n")
    cfg = DataConfig(
        source=str(tmp_path / "g.csv"),
        entity="id",
        time="ts",
        window=3,
        split="none",
        scaler="none",
    )
    prep = prepare(cfg)
    assert any(n.startswith("inserted 2 missing time steps in 1 gaps") for n in prep.notices)
    w = prep.train.to_array()
    assert w[:7, 0, 0].tolist() == list(range(7))  # a's rows 3 and 4 come back, interpolated
    assert w[-2, 0, 0] == 100.0  # b's first value filled from b, not from a's last (8)
    # off-grid steps are not resampled, only reported
    lines = ["id,ts,v", "a,0,0", "a,1,1", "a,2.5,2", "a,3.5,3", "a,4.5,4"]
    (tmp_path / "h.csv").write_text("\n".join(lines) + "\n")
    odd = prepare(
        DataConfig(source=str(tmp_path / "h.csv"), entity="id", time="ts", window=3, split="none")
    )
    assert any("differ from the median step" in n for n in odd.notices)
    assert len(odd.train) == 3
    strict = DataConfig(
        source=str(tmp_path / "g.csv"), entity="id", time="ts", window=3, missing="error"
    )
    assert "2 time steps are missing in 1 gaps" in error_of(prepare, strict)


def test_entity_and_time_are_not_features_and_not_in_columns(tmp_path):
    src, _ = long_table(tmp_path)
    cfg = DataConfig(source=src, entity="id", time="ts", window=4, columns=("id", "x"))
    assert "data.entity" in error_of(prepare, cfg, cls=ConfigError)
    with pytest.raises(ConfigError):
        DataConfig(entity="ts", time="ts")


def test_cli_train_and_sample_long_table(tmp_path):
    from tfusion.cli.main import main

    src, _ = long_table(tmp_path)
    run = str(tmp_path / "run")
    args = [
        "train",
        "--out",
        run,
        f"data.source={src}",
        "data.entity=id",
        "data.time=ts",
        "data.window=8",
        "model.preset=tiny",
        "model.width=32",
        "model.depth=1",
        "model.ff=64",
        "train.steps=3",
        "train.batch_size=4",
        "train.progress=false",
    ]
    assert main(args) == 0
    assert main(["sample", run, "--n", "2", "--out", str(tmp_path / "x.npy")]) == 0
    assert np.load(tmp_path / "x.npy").shape == (2, 8, 2)


def test_cli_sample_entities_writes_the_input_schema(tmp_path, capsys):
    """`--entities N` writes a long table like the input: id, ts (hourly, from a real entity's
    start), then the channels under their names; a run without entities refuses it."""
    import pandas as pd

    from tfusion.cli.main import main

    src, _ = long_table(tmp_path)
    run = str(tmp_path / "run")
    tiny = ["model.preset=tiny", "model.width=32", "model.depth=1", "model.ff=64"]
    train = ["train.steps=3", "train.batch_size=4", "train.progress=false"]
    data = [f"data.source={src}", "data.entity=id", "data.time=ts", "data.window=8"]
    assert main(["train", "--out", run, *data, *tiny, *train]) == 0
    for suffix in (".csv", ".parquet"):
        out = tmp_path / f"synth{suffix}"
        assert main(["sample", run, "--entities", "4", "--seed", "1", "--out", str(out)]) == 0
        df = pd.read_csv(out) if suffix == ".csv" else pd.read_parquet(out)
        assert list(df.columns) == ["id", "ts", "x", "y"]
        assert df.groupby("id").size().to_dict() == {f"synthetic-{i}": 8 for i in range(4)}
        ts = pd.to_datetime(df["ts"])
        for _, g in ts.groupby(df["id"]):
            assert (g.diff().dropna() == pd.Timedelta(hours=1)).all()
            # entities a and b (long enough for a window) start at midnight, c (5 rows) is out
            assert g.iloc[0] == pd.Timestamp("2024-01-01 00:00")
        assert np.isfinite(df[["x", "y"]].to_numpy()).all()
    capsys.readouterr()
    assert main(["sample", run, "--entities", "2", "--out", str(tmp_path / "s.npy")]) == 2
    assert ".csv or .parquet" in capsys.readouterr().err
    assert (
        main(["sample", run, "--entities", "2", "--n", "3", "--out", str(tmp_path / "t.csv")]) == 2
    )
    series = tmp_path / "one.csv"
    series.write_text("x,y\n" + "\n".join(f"{i},{2 * i}" for i in range(40)) + "\n")
    plain = str(tmp_path / "plain")
    plain_data = [f"data.source={series}", "data.window=8"]
    assert main(["train", "--out", plain, *plain_data, *tiny, *train]) == 0
    capsys.readouterr()
    out = tmp_path / "u.csv"
    assert main(["sample", plain, "--entities", "2", "--out", str(out)]) == 2
    assert "data.entity" in capsys.readouterr().err and not out.exists()


def padded_npz(tmp_path: Path) -> tuple[str, np.ndarray, np.ndarray]:
    """8 sequences padded to 10 steps (lengths 4..10, NaN padding), with a text attribute
    `site` and a numeric attribute `gain`; sequence k holds values near 10 * k."""
    x = sequences(8, 10, 2)
    lengths = np.array([4, 10, 6, 7, 10, 5, 8, 9])
    x[np.arange(10)[None, :] >= lengths[:, None]] = np.nan
    site = np.array(["north", "south"] * 4)
    gain = np.arange(8) * 1.5
    path = tmp_path / "padded.npz"
    np.savez(path, windows=x, lengths=lengths, site=site, gain=gain, columns=np.array(["a", "b"]))
    return str(path), x, lengths


def test_npz_lengths_strip_padding_and_attributes_load(tmp_path):
    src, x, lengths = padded_npz(tmp_path)
    prep = prepare(
        DataConfig(source=src, whole=True, static=("site", "gain"), split="none", window=4)
    )
    assert prep.train_lengths.tolist() == lengths.tolist()  # NaN padding is not data
    got = prep.inverse(prep.train.to_array())
    for k, n in enumerate(lengths):
        np.testing.assert_allclose(got[k, :n], x[k, :n], rtol=1e-5)
    attrs = {a.name: a for a in prep.codec.attributes}
    assert attrs["site"].levels == ("north", "south") and attrs["gain"].kind == "number"
    assert (attrs["gain"].lo, attrs["gain"].hi) == (0.0, 10.5)
    # windows mode: windows never run into the padding, sequences shorter than a window go
    win = prepare(DataConfig(source=src, static=("site",), window=6, split="none"))
    w = win.inverse(win.train.to_array())
    assert not np.isnan(w).any() and (seq_of(w) == seq_of(w)[:, :1]).all()
    assert "left out 2 of 8 sequences" in " ".join(win.notices)


def test_npz_lengths_and_attributes_are_checked(tmp_path):
    src, x, lengths = padded_npz(tmp_path)
    bad = tmp_path / "bad.npz"
    np.savez(bad, windows=x, lengths=np.append(lengths[:-1], 11))
    assert "lengths of" in error_of(prepare, DataConfig(source=str(bad), window=4))
    msg = error_of(prepare, DataConfig(source=src, static=("colour",), window=4))
    assert "'colour'" in msg and "gain" in msg and "site" in msg
    msg = error_of(prepare, DataConfig(source=src, categorical=("a",), window=4), cls=ConfigError)
    assert "data.categorical" in msg


def test_cli_npz_panel_samples_npz_with_lengths_and_attributes(tmp_path, capsys):
    from tfusion.cli.main import main
    from tfusion.threads import single_thread

    src, _, lengths = padded_npz(tmp_path)
    run = tmp_path / "run"
    with single_thread():
        assert (
            main(
                [
                    "train",
                    "--out",
                    str(run),
                    f"data.source={src}",
                    "data.whole=true",
                    "data.static=[site]",
                    "data.split=none",
                    "model.preset=tiny",
                    "model.width=32",
                    "model.depth=1",
                    "train.steps=20",
                    "train.progress=false",
                ]
            )
            == 0
        )
        out = tmp_path / "synth.npz"
        assert (
            main(
                ["sample", str(run), "--entities", "5", "--where", "site=south", "--out", str(out)]
            )
            == 0
        )
    z = np.load(out)
    assert z["windows"].shape[0] == 5 and set(z["site"].tolist()) == {"south"}
    assert ((z["lengths"] >= lengths.min()) & (z["lengths"] <= lengths.max())).all()
    assert z["columns"].tolist() == ["a", "b"]


def test_npz_attributes_nan_refused_and_bytes_decoded(tmp_path):
    # a NaN attribute had reached the scaler (lo / hi NaN) and failed training as "loss became
    # nan"; a bytes array (dtype S) had become levels like "b'north'"
    _, x, lengths = padded_npz(tmp_path)
    gain = np.arange(8) * 1.5
    gain[3] = np.nan
    nan = tmp_path / "nan.npz"
    np.savez(nan, windows=x, lengths=lengths, gain=gain)
    message = error_of(prepare, DataConfig(source=str(nan), whole=True, static=("gain",)))
    assert "'gain'" in message and "sequence 3" in message and "finite" in message
    raw = tmp_path / "bytes.npz"
    np.savez(raw, windows=x, lengths=lengths, site=np.array([b"north", b"south"] * 4))
    prep = prepare(DataConfig(source=str(raw), whole=True, static=("site",), split="none"))
    assert prep.codec.attributes[0].levels == ("north", "south")


def test_a_typed_table_is_sampled_back_in_its_own_dtypes(tmp_path, capsys):
    # `tfusion sample` wrote a Parquet int32 channel as int64 and a bool one as 0.0/1.0 floats;
    # an .npz's int32 / bool attributes came back int64
    import json

    import pandas as pd

    from tfusion.cli.main import main

    rng = np.random.default_rng(0)
    n, steps = 12, 16
    df = pd.DataFrame(
        {
            "case": np.repeat(np.arange(n), steps).astype(np.int32),
            "step": np.tile(np.arange(steps), n).astype(np.int16),
            "level": rng.normal(size=n * steps).astype(np.float32),
            "count": rng.integers(0, 50, n * steps).astype(np.int32),
            "on": rng.random(n * steps) > 0.5,
            "mode": rng.integers(0, 3, n * steps).astype(np.int8),
            "grade": np.repeat(rng.integers(-5, 5, n), steps).astype(np.int8),
            "flag": np.repeat(np.arange(n) % 2 == 0, steps),
        }
    )
    df.to_parquet(tmp_path / "typed.parquet")
    tiny = ["model.preset=tiny", "model.width=16", "model.depth=1", "model.ff=32"]
    train = ["train.steps=2", "train.batch_size=4", "train.progress=false"]
    data = [f"data.source={tmp_path / 'typed.parquet'}", "data.entity=case", "data.time=step"]
    data.append("data.window=16")
    # channels only: the run still keeps the input's types (ids and times included)
    plain = tmp_path / "plain"
    capsys.readouterr()
    cols = "data.columns=[level, count, on]"  # YAML's boolean: the message says to quote it
    assert main(["train", "--out", str(plain), *data, cols, *tiny, *train]) == 2
    assert "quote such a name ('on')" in capsys.readouterr().err
    cols = "data.columns=[level, count, 'on']"
    assert main(["train", "--out", str(plain), *data, cols, *tiny, *train]) == 0
    assert (
        main(["sample", str(plain), "--entities", "3", "--out", str(tmp_path / "p.parquet")]) == 0
    )
    fake = pd.read_parquet(tmp_path / "p.parquet")
    want = df[["case", "step", "level", "count", "on"]].dtypes.to_dict()
    assert fake.dtypes.to_dict() == want
    # categorical channels and attributes too, and a bool attribute is conditioned on as written
    run = tmp_path / "run"
    more = ["data.static=[grade, flag]", "data.categorical=[mode, flag]"]
    assert main(["train", "--out", str(run), *data, *more, *tiny, *train]) == 0
    out = tmp_path / "fake.parquet"
    where = ["--where", "flag=True"]
    assert main(["sample", str(run), "--entities", "3", *where, "--out", str(out)]) == 0
    fake = pd.read_parquet(out)
    assert fake.dtypes.to_dict() == df.dtypes.to_dict()
    assert fake["grade"].between(-128, 127).all() and fake["flag"].all()
    # a label column of bools (or ints) is written back as such, not as the text "1"
    labelled = tmp_path / "labelled"
    cols = ["data.label=flag", "data.columns=[level, count]"]
    assert main(["train", "--out", str(labelled), *data, *cols, *tiny, *train]) == 0
    out = tmp_path / "labelled.parquet"
    assert main(["sample", str(labelled), "--entities", "4", "--out", str(out)]) == 0
    assert pd.read_parquet(out)["flag"].dtype == bool
    # and asked for as written: --labels True
    labels = ["--labels", "True,True"]
    assert main(["sample", str(labelled), "--entities", "2", *labels, "--out", str(out)]) == 0
    assert pd.read_parquet(out)["flag"].all()
    # a damaged dtype in data_state.json is one line naming the file, before any sampling
    state_path = run / "data_state.json"
    state = json.loads(state_path.read_text())
    state["codec"]["dtypes"]["count"] = "int33"
    state_path.write_text(json.dumps(state))
    capsys.readouterr()
    assert main(["sample", str(run), "--entities", "2", "--out", str(tmp_path / "x.parquet")]) == 2
    err = capsys.readouterr().err
    assert "data_state.json is damaged" in err and "'int33'" in err and err.count("\n") == 1

    seqs = tmp_path / "seqs.npz"
    x = rng.normal(size=(10, 12, 2))
    np.savez(seqs, windows=x, flag=np.arange(10) % 2 == 0, size=np.arange(10, dtype=np.int32))
    data = [f"data.source={seqs}", "data.window=12", "data.static=[flag, size]"]
    npz_run = str(tmp_path / "run_npz")
    assert main(["train", "--out", npz_run, *data, *tiny, *train]) == 0
    out = tmp_path / "fake.npz"
    assert main(["sample", npz_run, "--entities", "3", "--out", str(out)]) == 0
    back = np.load(out)
    assert back["flag"].dtype == np.bool_ and back["size"].dtype == np.int32


def test_entity_split_holds_out_whole_entities(tmp_path):
    # data.split=random lets one entity lend windows to both parts; split=entity must not
    rows = ["id,t,x"]
    for k in range(10):  # entity k's values sit near 10 k, so a window names its entity
        rows += [f"e{k},{i},{10.0 * k + i / 100!r}" for i in range(14)]
    src = tmp_path / "ten.csv"
    src.write_text("\n".join(rows) + "\n")

    def parts(split: str) -> tuple[set[int], set[int]]:
        cfg = DataConfig(source=str(src), entity="id", time="t", window=8, split=split)
        prep = prepare(replace(cfg, scaler="none", test_fraction=0.3))
        train, test = (p.to_array().astype(np.float64) for p in (prep.train, prep.test))
        return set(seq_of(train)[:, 0].tolist()), set(seq_of(test)[:, 0].tolist())

    train, test = parts("entity")
    assert not train & test and len(test) == 3 and train | test == set(range(10))
    train, test = parts("random")
    assert train & test  # the papers' protocol: windows of one entity on both sides

    one = tmp_path / "one.csv"
    one.write_text("t,x\n" + "\n".join(f"{i},{i * 0.5}" for i in range(40)) + "\n")
    msg = error_of(prepare, DataConfig(source=str(one), window=8, split="entity"), cls=ConfigError)
    assert "data.split=entity holds out whole entities" in msg and "is one series" in msg
    single = tmp_path / "single.csv"
    single.write_text("id,t,x\n" + "\n".join(f"a,{i},{i * 0.5}" for i in range(40)) + "\n")
    cfg = DataConfig(source=str(single), entity="id", time="t", window=8, split="entity")
    assert "has one entity in column 'id'" in error_of(prepare, cfg, cls=ConfigError)
    msg = error_of(prepare, DataConfig(source="sine", window=8, split="entity"), cls=ConfigError)
    assert "no entity to hold out" in msg


def test_written_numbers_never_wrap_or_fail():
    # whole numbers beyond int64 (a CSV of counters near 1e19) wrapped to -2**63, and labels of
    # such numbers or of inf raised from pandas after the sampling had run
    import pandas as pd

    from tfusion.data.readers import numpy_name
    from tfusion.timeseries.entities import _levels, _typed, as_dtype

    big = np.array([1.5e19, 2.0, np.nan])
    assert np.array_equal(_typed(big, "int"), big, equal_nan=True)
    assert _typed(np.array([1.0, 2.4]), "int").dtype == np.int64
    levels = np.array(["12345678901234567890", "3"], dtype=object)
    assert _levels(levels, "int").tolist() == [1.2345678901234567e19, 3.0]
    assert _levels(np.array(["inf", "-inf"], dtype=object), "int").tolist() == [np.inf, -np.inf]
    assert str(_levels(np.array(["4", ""], dtype=object), "int").dtype) == "Int64"
    # 64-bit types clip at their ends (float64 cannot hold 2**63 - 1 itself)
    top = as_dtype(np.array([9.3e18, -1e19]), "int64")
    assert top[0] > 9.2e18 and top[1] == np.iinfo(np.int64).min
    assert as_dtype(np.array([1.9e19, -3.0]), "uint64")[1] == 0
    # only bool / int / float dtypes are kept: complex and decimal columns are not numbers here
    assert numpy_name(np.dtype("complex128")) == "" and numpy_name(np.dtype(object)) == ""
    assert numpy_name(pd.Int32Dtype()) == "int32" and numpy_name(pd.BooleanDtype()) == "bool"
