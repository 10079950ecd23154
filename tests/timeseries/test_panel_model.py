"""Panels (issue 22): static attributes, categorical channels and whole sequences, from the table
loader through the codec, data pipeline, masked loss and model to `tfusion sample --entities`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from helpers import error_of
from tfusion.cli.main import main
from tfusion.data.codec import Attribute, PanelCodec
from tfusion.data.tables import load_table
from tfusion.diffusion import Objective
from tfusion.errors import ConfigError
from tfusion.threads import single_thread
from tfusion.timeseries.config import DataConfig
from tfusion.timeseries.data import prepare
from tfusion.timeseries.model import TimeSeriesDenoiser

PANEL = dict(entity_column="id", time_column="day", static_columns=["sector", "age"])


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    # tiny tensors on a shared 2-core machine: one intra-op thread is ~10x faster
    with single_thread():
        yield


def small_frame() -> pd.DataFrame:
    """3 entities (4, 3, 5 rows); sector/age static, state a time-varying category that mixes
    numbers, text and a blank cell; power a float channel, count an int one."""
    rows = []
    states = {"e1": ["b", "a", "2", "b"], "e2": ["10", "10", "10"], "e3": ["b", "a", "", "b", "a"]}
    for k, (e, sector, age, n) in enumerate([("e1", "bank", 30, 4), ("e2", "tech", 41, 3)]):
        for i in range(n):
            rows.append((e, i, sector, age, states[e][i], 1.5 * i + k, i + 10 * k))
    for i in range(5):
        rows.append(("e3", i, "bank", 25, states["e3"][i], 2.0 + 1.5 * i, 20 + i))
    return pd.DataFrame(rows, columns=["id", "day", "sector", "age", "state", "power", "count"])


def panel_frame(n: int = 20) -> pd.DataFrame:
    """n entities of 4..8 steps (every 2 days from day 10): power ~ entity number k + i / 10."""
    rows = []
    for k in range(n):
        for i in range(4 + k % 5):
            rows.append(
                {
                    "id": f"e{k:02d}",
                    "day": 10 + 2 * i,
                    "sector": ("bank", "tech")[k % 2],
                    "age": 20 + k,
                    "state": "abc"[(i + k) % 3],
                    "power": k + i / 10,
                    "count": i + k,
                }
            )
    return pd.DataFrame(rows)


def entity_of(x: np.ndarray) -> np.ndarray:
    """The entity number k of unscaled panel_frame sequences (n, L, C), from power at step 0."""
    return np.floor(x[:, 0, 0] + 0.01).astype(int)


# ---------------------------------------------------------------- 1. load_table


def test_load_table_attributes_levels_kinds_and_schema():
    t = load_table(small_frame(), **PANEL, categorical_columns=["state"])
    assert t.columns == ("power", "count")
    assert t.entities == ("e1", "e2", "e3")
    assert t.attributes is not None and list(t.attributes.columns) == ["sector", "age"]
    assert t.attributes["sector"].tolist() == ["bank", "tech", "bank"]
    assert t.attributes["age"].tolist() == [30, 41, 25]
    # numbers in numeric order (2 before 10), then text, the blank cell last as level ""
    assert t.categorical == ("state",) and t.levels == (("2", "10", "a", "b", ""),)
    assert t.codes is not None and t.codes.shape == (12, 1)
    assert t.codes[:, 0].tolist() == [3, 2, 0, 3, 1, 1, 1, 3, 2, 4, 3, 2]
    assert t.kinds == {
        "id": "text",
        "power": "float",
        "count": "int",
        "sector": "text",
        "age": "int",
        "state": "text",
    }
    assert t.schema == ("id", "day", "sector", "age", "state", "power", "count")


def test_reverse_flips_codes_with_values():
    fwd = load_table(small_frame(), **PANEL, categorical_columns=["state"])
    rev = load_table(small_frame(), **PANEL, categorical_columns=["state"], reverse=True)
    assert rev.levels == fwd.levels and fwd.bounds is not None
    for a, b in zip(fwd.bounds[:-1], fwd.bounds[1:]):
        np.testing.assert_array_equal(rev.values[a:b], fwd.values[a:b][::-1])
        np.testing.assert_array_equal(rev.codes[a:b], fwd.codes[a:b][::-1])
    assert rev.attributes["age"].tolist() == [30, 41, 25]  # attributes do not move


def test_numeric_categorical_channel_levels_and_int_kind():
    frame = small_frame()
    frame["state"] = [3, 1, 20, 3, 1, 1, 1, 20, 3, 3, 1, 20]
    t = load_table(frame, **PANEL, categorical_columns=["state"])
    assert t.levels == (("1", "3", "20"),) and t.kinds["state"] == "int"
    assert t.codes[:4, 0].tolist() == [1, 0, 2, 1]


# ---------------------------------------------------------------- 2. errors


def test_attribute_varying_within_an_entity_names_entity_and_column():
    frame = small_frame()
    frame.loc[5, "sector"] = "bank"  # e2 is tech on its other rows
    message = error_of(load_table, frame, **PANEL)
    assert "'sector'" in message and "'e2'" in message and "row 5" in message
    frame = small_frame()
    frame.loc[5, "age"] = 42
    message = error_of(load_table, frame, **PANEL)
    assert "'age'" in message and "'e2'" in message and "42" in message


def test_static_needs_an_entity_and_cannot_be_the_entity_or_time():
    frame = small_frame()
    assert "data.entity" in error_of(load_table, frame, static_columns=["sector"], cls=ConfigError)
    message = error_of(
        load_table, frame, entity_column="id", static_columns=["id"], cls=ConfigError
    )
    assert "'id'" in message and "data.static" in message
    message = error_of(
        load_table,
        frame,
        entity_column="id",
        time_column="day",
        static_columns=["day"],
        cls=ConfigError,
    )
    assert "'day'" in message and "data.time" in message
    assert "data.entity" in error_of(DataConfig, static=("sector",), cls=ConfigError)


def test_numeric_attribute_empty_for_an_entity():
    frame = small_frame()
    frame["age"] = frame["age"].astype(float)
    frame.loc[frame["id"] == "e2", "age"] = np.nan
    message = error_of(load_table, frame, **PANEL)
    assert "'age'" in message and "'e2'" in message and "empty" in message


def test_stray_word_in_a_numeric_channel_stays_an_error():
    frame = small_frame().astype({"power": object})
    frame.loc[3, "power"] = "oops"
    message = error_of(load_table, frame, **PANEL, categorical_columns=["state"])
    assert "'power'" in message and "'oops'" in message and "row 3" in message


def test_numeric_column_in_static_and_categorical_is_a_category_attribute():
    frame = small_frame()
    frame["region"] = frame["id"].map({"e1": 1, "e2": 2, "e3": 3})
    t = load_table(
        frame,
        entity_column="id",
        time_column="day",
        static_columns=["region"],
        categorical_columns=["region"],
    )
    assert t.attributes["region"].tolist() == ["1", "2", "3"]


def test_numeric_levels_keep_every_digit():
    frame = small_frame()
    frame["state"] = [1234567, 1234568] * 6
    t = load_table(frame, **PANEL, categorical_columns=["state"])
    assert t.levels == (("1234567", "1234568"),)


def test_windows_mode_short_entity_with_its_own_level():
    frame = panel_frame(6)
    frame.loc[frame["id"] == "e00", "sector"] = "retail"  # e00 has 4 steps < data.window
    prep = prepare(whole_cfg(whole=False, window=5, split="none"), frame)
    assert prep.codec is not None and "retail" not in prep.codec.attributes[0].levels


def test_varying_numeric_attribute_message_shows_plain_numbers():
    frame = small_frame()
    frame.loc[5, "age"] = 42
    assert "np.float64" not in error_of(load_table, frame, **PANEL)


# ---------------------------------------------------------------- 3. PanelCodec


def codec() -> PanelCodec:
    return PanelCodec(
        numeric=("power", "count"),
        categorical=(("state", ("a", "b", "c")), ("mode", ("1", "2"))),
        attributes=(
            Attribute("sector", "category", ("bank", "retail", "tech"), dtype="text"),
            Attribute("age", "number", (), 20.0, 60.0, "int"),
            Attribute("score", "number", (), -1.5, 2.5, "float"),
        ),
        lengths=(3, 40),
        kinds={"power": "float", "count": "int", "sector": "text", "age": "int"},
        schema=("id", "day", "sector", "age", "score", "state", "mode", "power", "count"),
    )


def test_one_hot_and_split_channels_round_trip():
    c = codec()
    assert c.feature_columns == (
        "power",
        "count",
        "state=a",
        "state=b",
        "state=c",
        "mode=1",
        "mode=2",
    )
    assert c.attribute_dim == 3 + 1 + 1 + 1
    rng = np.random.default_rng(0)
    codes = np.stack([rng.integers(0, 3, 50), rng.integers(0, 2, 50)], axis=1)
    hot = c.one_hot(codes)
    assert hot.shape == (50, 5) and (hot.sum(axis=1) == 2).all()
    numeric = rng.normal(size=(50, 2))
    x = np.concatenate([numeric, hot + 0.3 * rng.normal(size=hot.shape) * 0.5], axis=1)
    x = x.reshape(5, 10, 7)
    got_numeric, got_codes = c.split_channels(x)
    np.testing.assert_array_equal(got_numeric, numeric.reshape(5, 10, 2))
    np.testing.assert_array_equal(got_codes, codes.reshape(5, 10, 2))


def test_attributes_round_trip_rounding_and_clipping():
    c = codec()
    rows = pd.DataFrame(
        {
            "sector": ["tech", "bank", "retail", "bank"],
            "age": [20, 33, 60, 47],
            "score": [-1.5, 0.25, 2.5, 1.0],
        }
    )
    lengths = np.array([3, 7, 40, 12])
    v = c.encode_attributes(rows, lengths)
    assert v.shape == (4, 6) and v.dtype == np.float32
    assert v.min() >= -1 and v.max() <= 1
    back, got_lengths = c.decode_attributes(v)
    assert back["sector"].tolist() == rows["sector"].tolist()
    assert back["age"].tolist() == [20, 33, 60, 47]
    np.testing.assert_allclose(back["score"], rows["score"], atol=1e-5)
    np.testing.assert_array_equal(got_lengths, lengths)
    # off-grid vectors: integers rounded, everything clipped to the training range
    v[:, 3] = [-3.0, 5.0, 0.01, 0.0]  # age
    v[:, 4] = [-2.0, 2.0, 0.0, 0.0]  # score
    v[:, 5] = [-9.0, 9.0, 0.0, 0.0]  # log length
    back, got_lengths = c.decode_attributes(v)
    assert back["age"].tolist()[:2] == [20, 60]
    assert back["age"].tolist()[2] == round(20 + 40 * 1.01 / 2) == 40
    assert back["score"].tolist()[:2] == [-1.5, 2.5]
    assert got_lengths.tolist()[:2] == [3, 40]
    assert got_lengths[2] == round(np.exp((np.log(3) + np.log(40)) / 2))


def test_known_attributes_fixes_entries_and_refuses_bad_conditions():
    c = codec()
    mask, values = c.known_attributes({"sector": "retail", "age": "40"})
    assert mask.tolist() == [True, True, True, True, False, False]
    assert values[:4].tolist() == [-1.0, 1.0, -1.0, 0.0]
    message = error_of(c.known_attributes, {"sector": "insurance"}, cls=ConfigError)
    assert "'insurance'" in message and "'bank', 'retail', 'tech'" in message
    message = error_of(c.known_attributes, {"height": 3}, cls=ConfigError)
    assert "'height'" in message and "sector, age, score" in message
    message = error_of(c.known_attributes, {"age": 61}, cls=ConfigError)
    assert "'age'" in message and "20 to 60" in message
    assert "number" in error_of(c.known_attributes, {"age": "old"}, cls=ConfigError)


def test_codec_dict_round_trip_through_json():
    c = codec()
    again = PanelCodec.from_dict(json.loads(json.dumps(c.to_dict())))
    assert again == c and again.to_dict() == c.to_dict()
    plain = PanelCodec(("x",))
    assert PanelCodec.from_dict(json.loads(json.dumps(plain.to_dict()))) == plain


# ---------------------------------------------------------------- 4. prepare()


def whole_cfg(**kw) -> DataConfig:
    base = dict(
        entity="id",
        time="day",
        static=("sector", "age"),
        categorical=("state",),
        whole=True,
        test_fraction=0.25,
        seed=3,
    )
    return DataConfig(**{**base, **kw})


def test_whole_sequences_padded_lengths_and_entity_split():
    frame = panel_frame(12)
    prep = prepare(whole_cfg(), frame)
    true_len = frame.groupby("id", sort=False).size().to_numpy()
    assert prep.columns == ("power", "count", "state=a", "state=b", "state=c")
    assert prep.codec is not None and prep.codec.lengths == (4, 8)
    train, test = prep.train.to_array(), prep.test.to_array()
    assert train.shape == (9, 8, 5) and test.shape == (3, 8, 5)
    for part, lengths in ((train, prep.train_lengths), (test, prep.test_lengths)):
        k = entity_of(prep.inverse(part))
        np.testing.assert_array_equal(lengths, true_len[k])
        for seq, n in zip(part, lengths):
            assert (seq[n:] == 0).all() and (np.abs(seq[:n]).sum(axis=1) > 0).all()
    k_train, k_test = entity_of(prep.inverse(train)), entity_of(prep.inverse(test))
    assert not set(k_train) & set(k_test) and len(set(k_train) | set(k_test)) == 12
    # the attribute vector of each sequence is its entity's
    rows = frame.groupby("id", sort=False)[["sector", "age"]].first().reset_index(drop=True)
    want = prep.codec.encode_attributes(rows.iloc[k_train], true_len[k_train])
    np.testing.assert_allclose(prep.train_attrs, want)
    np.testing.assert_allclose(prep.train_attr_rows, want)
    assert prep.state()["codec"] == prep.codec.to_dict()


def test_whole_scaler_sees_training_entities_only():
    frame = panel_frame(12)
    prep = prepare(whole_cfg(), frame)
    k_test = entity_of(prep.inverse(prep.test.to_array()))
    k_train = entity_of(prep.inverse(prep.train.to_array()))
    spiked = frame.copy()
    spiked.loc[spiked["id"] == f"e{k_test[0]:02d}", "power"] = 1e6
    assert prepare(whole_cfg(), spiked).scaler.to_dict() == prep.scaler.to_dict()
    spiked = frame.copy()  # the same change in a training entity does move it
    spiked.loc[spiked["id"] == f"e{k_train[0]:02d}", "power"] = 1e6
    assert prepare(whole_cfg(), spiked).scaler.to_dict() != prep.scaler.to_dict()


def test_whole_refuses_time_split_and_needs_an_entity():
    assert "data.split" in error_of(whole_cfg, split="time", cls=ConfigError)
    cfg = DataConfig(whole=True)
    assert "data.entity" in error_of(prepare, cfg, panel_frame(4), cls=ConfigError)


def test_windows_mode_attribute_rows_follow_each_window_entity():
    frame = panel_frame(10)
    cfg = whole_cfg(whole=False, window=4, test_fraction=0.3)
    prep = prepare(cfg, frame)
    assert prep.train_lengths is None and prep.codec is not None
    assert prep.codec.lengths is None and prep.codec.attribute_dim == 2 + 1
    rows = frame.groupby("id", sort=False)[["sector", "age"]].first().reset_index(drop=True)
    for part, attrs in ((prep.train, prep.train_attrs), (prep.test, prep.test_attrs)):
        w = prep.inverse(part.to_array())
        k = entity_of(w)
        assert len(attrs) == len(w) > 0
        np.testing.assert_allclose(attrs, prep.codec.encode_attributes(rows.iloc[k]))
        # categorical channels stay one-hot (0/1 once unscaled) and windows never cross entities
        np.testing.assert_allclose(w[..., 2:].sum(axis=-1), 1.0, atol=1e-5)
        assert (np.floor(w[..., 0] + 0.01) == k[:, None]).all()


# ---------------------------------------------------------------- 5. masked loss


def test_masked_loss_ignores_padding_and_matches_the_plain_mean():
    torch.manual_seed(0)
    pred, target = torch.randn(3, 6, 2), torch.randn(3, 6, 2)
    mask = torch.arange(6)[None] < torch.tensor([6, 4, 1])[:, None]
    for kind in ("mse", "l1"):
        obj = Objective("v", kind)
        loss = obj.loss_per_sample(pred, target, mask=mask)
        other = pred.clone()
        other[~mask] = 100.0
        torch.testing.assert_close(obj.loss_per_sample(other, target, mask=mask), loss)
        err = (pred - target).pow(2) if kind == "mse" else (pred - target).abs()
        want = torch.stack([err[b, : int(mask[b].sum())].mean() for b in range(3)])
        torch.testing.assert_close(loss, want)
        full = torch.ones(3, 6, dtype=torch.bool)
        torch.testing.assert_close(
            obj.loss_per_sample(pred, target, mask=full), obj.loss_per_sample(pred, target)
        )
        assert obj(other, target, mask) == pytest.approx(float(loss.mean()))
    fourier = Objective("v", "mse", fourier_weight=0.1)
    message = error_of(fourier.loss_per_sample, pred, target, mask=mask, cls=ConfigError)
    assert "fourier_weight" in message
    fourier.loss_per_sample(pred, target)  # without a mask it stays allowed


# ---------------------------------------------------------------- 6. model


def random_model(arch: str, attributes: int = 4) -> TimeSeriesDenoiser:
    torch.manual_seed(0)
    model = TimeSeriesDenoiser(3, 32, 2, 4, 64, 0.0, arch, attributes=attributes).eval()
    with torch.no_grad():  # zero-initialised gates would make every output trivially equal
        for p in model.parameters():
            p.normal_(0.0, 0.2)
    return model


@pytest.mark.parametrize("arch", ["modern", "paper"])
def test_padding_does_not_reach_the_real_steps(arch):
    model = random_model(arch)
    x, t, a = torch.randn(3, 7, 3), torch.rand(3), torch.randn(3, 4)
    mask = torch.arange(7)[None] < torch.tensor([7, 4, 2])[:, None]
    junk = x.clone()
    junk[~mask] = 10.0 * torch.randn(int((~mask).sum()), 3)
    with torch.no_grad():
        out = model(x, t, a, mask=mask)
        torch.testing.assert_close(model(junk, t, a, mask=mask)[mask], out[mask])
        # without the mask the padding does leak (so the check above can fail)
        assert not torch.allclose(model(junk, t, a)[mask], model(x, t, a)[mask])
        assert torch.isfinite(out).all()


@pytest.mark.parametrize("arch", ["modern", "paper"])
def test_nan_attributes_are_the_null_condition(arch):
    model = random_model(arch)
    x, t, a = torch.randn(3, 5, 3), torch.rand(3), torch.randn(3, 4)
    with torch.no_grad():
        none = model(x, t, None)
        torch.testing.assert_close(model(x, t, torch.full((3, 4), torch.nan)), none)
        cond = model(x, t, a)
        assert not torch.allclose(cond, none)
        mixed = a.clone()
        mixed[1] = torch.nan
        got = model(x, t, mixed)
        torch.testing.assert_close(got[1], none[1])
        torch.testing.assert_close(got[[0, 2]], cond[[0, 2]])


def test_forward_with_attr_returns_both_predictions():
    model = random_model("modern")
    x, t, a = torch.randn(2, 5, 3), torch.rand(2), torch.randn(2, 4)
    a_t, t_a = torch.randn(6, 1, 4), torch.rand(6)
    mask = torch.arange(5)[None] < torch.tensor([5, 3])[:, None]
    with torch.no_grad():
        out = model(x, t, a, mask=mask, attr=(a_t, t_a))
        assert isinstance(out, tuple) and len(out) == 2
        assert out[1].shape == a_t.shape
        torch.testing.assert_close(out[0], model(x, t, a, mask=mask))
        torch.testing.assert_close(out[1], model.attr_model(a_t, t_a))


# ---------------------------------------------------------------- 7-8. end to end (CLI)

TINY = ["model.preset=tiny", "model.width=32", "model.depth=1", "model.ff=64"]
SHORT = ["train.steps=60", "train.batch_size=8", "train.progress=false"]


@pytest.fixture(scope="module")
def panel_run(tmp_path_factory) -> tuple[Path, Path, pd.DataFrame]:
    root = tmp_path_factory.mktemp("panel")
    frame = panel_frame(20)
    src = root / "panel.csv"
    frame.to_csv(src, index=False)
    run = root / "run"
    data = [
        f"data.source={src}",
        "data.entity=id",
        "data.time=day",
        "data.static=[sector,age]",
        "data.categorical=[state]",
        "data.whole=true",
    ]
    assert main(["train", "--out", str(run), *data, *TINY, *SHORT]) == 0
    return run, src, frame


def sample(run: Path, out: Path, *args: str) -> int:
    return main(["sample", str(run), "--steps", "4", "--out", str(out), *args])


def test_entities_follow_the_input_schema_and_types(panel_run, tmp_path):
    run, _, frame = panel_run
    out = tmp_path / "x.csv"
    assert sample(run, out, "--entities", "12", "--seed", "1") == 0
    df = pd.read_csv(out)
    assert list(df.columns) == list(frame.columns)
    assert df["id"].nunique() == 12
    assert set(df["state"]) <= {"a", "b", "c"} and set(df["sector"]) <= {"bank", "tech"}
    for name in ("count", "age", "day"):
        assert pd.api.types.is_integer_dtype(df[name]), name
    assert df["power"].dtype == np.float64 and np.isfinite(df["power"]).all()
    for _, g in df.groupby("id"):
        assert 4 <= len(g) <= 8
        assert g["day"].tolist() == [10 + 2 * i for i in range(len(g))]
        assert g["sector"].nunique() == 1 and g["age"].nunique() == 1
        assert 20 <= g["age"].iloc[0] <= 39


def test_where_fixes_a_category_and_refuses_an_unseen_level(panel_run, tmp_path, capsys):
    run, _, _ = panel_run
    out = tmp_path / "tech.csv"
    assert sample(run, out, "--entities", "5", "--where", "sector=tech") == 0
    df = pd.read_csv(out)
    assert df["id"].nunique() == 5 and set(df["sector"]) == {"tech"}
    capsys.readouterr()
    bad = tmp_path / "bad.csv"
    assert sample(run, bad, "--entities", "3", "--where", "sector=insurance") == 2
    err = capsys.readouterr().err
    assert "'insurance'" in err and "'bank', 'tech'" in err and not bad.exists()
    assert sample(run, bad, "--entities", "3", "--where", "age=99") == 2
    assert "20 to 39" in capsys.readouterr().err and not bad.exists()
    # an integer attribute is drawn as a whole number: 30.5 had silently become 30
    assert sample(run, bad, "--entities", "3", "--where", "age=30.5") == 2
    assert "holds whole numbers" in capsys.readouterr().err and not bad.exists()
    assert sample(run, bad, "--entities", "3", "--where", "age=nan") == 2
    assert "finite number" in capsys.readouterr().err and not bad.exists()


def test_where_table_draws_one_entity_per_row(panel_run, tmp_path):
    run, _, _ = panel_run
    table = tmp_path / "where.csv"
    table.write_text("sector,age\ntech,25\nbank,\n,30\n")
    out = tmp_path / "w.csv"
    assert sample(run, out, "--where", str(table)) == 0
    df = pd.read_csv(out)
    first = df.groupby("id", sort=False)[["sector", "age"]].first()
    assert first.index.tolist() == ["synthetic-0", "synthetic-1", "synthetic-2"]
    assert first["sector"].iloc[:2].tolist() == ["tech", "bank"]
    assert first["age"].iloc[0] == 25 and first["age"].iloc[2] == 30
    assert first["sector"].iloc[2] in ("bank", "tech") and 20 <= first["age"].iloc[1] <= 39
    # the data reader's cell rules: NA is blank (drawn), a ;-table's decimal comma a number
    # (both had been refused as "give a number")
    table.write_text("sector;age\ntech;NA\nbank;30,0\n")
    assert sample(run, out, "--where", str(table)) == 0
    first = pd.read_csv(out).groupby("id", sort=False)[["sector", "age"]].first()
    assert first["sector"].tolist() == ["tech", "bank"] and first["age"].iloc[1] == 30
    assert 20 <= first["age"].iloc[0] <= 39


def test_n_is_refused_on_a_panel_run(panel_run, tmp_path, capsys):
    run, _, _ = panel_run
    out = tmp_path / "n.csv"
    capsys.readouterr()
    assert sample(run, out, "--n", "3") == 2
    assert "--entities" in capsys.readouterr().err and not out.exists()


def test_where_is_refused_without_attributes(panel_run, tmp_path, capsys):
    _, src, _ = panel_run
    run = tmp_path / "plain"
    data = [f"data.source={src}", "data.entity=id", "data.time=day", "data.window=4"]
    steps = ["train.steps=2", "train.batch_size=4", "train.progress=false"]
    assert main(["train", "--out", str(run), *data, *TINY, *steps]) == 0
    capsys.readouterr()
    out = tmp_path / "w.csv"
    assert sample(run, out, "--entities", "2", "--where", "sector=bank") == 2
    assert "data.static" in capsys.readouterr().err and not out.exists()
    # --where with --n (no --entities) had been told "not both" of options it never gave
    assert sample(run, out, "--n", "2", "--where", "sector=bank") == 2
    assert "use --entities N, not --n" in capsys.readouterr().err and not out.exists()


def test_a_column_in_both_static_and_columns_is_named():
    # it had read "has no numeric column", or silently left the channels
    msg = error_of(
        DataConfig, source="x.csv", entity="id", static=("price",), columns=("price", "vol"),
        cls=ConfigError,
    )  # fmt: skip
    assert "'price'" in msg and "data.static" in msg and "data.columns" in msg


def test_loaded_run_has_the_training_codec(panel_run):
    from tfusion.timeseries.sample import TimeSeriesRun
    from tfusion.timeseries.train import saved_config

    run, _, _ = panel_run
    loaded = TimeSeriesRun.load(run)
    prep = prepare(saved_config(run).data)
    assert loaded.codec is not None and prep.codec is not None
    assert loaded.codec.to_dict() == prep.codec.to_dict() and loaded.codec == prep.codec
    assert loaded.codec.attribute_dim == 2 + 1 + 1 and loaded.codec.lengths == (4, 8)
    assert loaded.model.attributes == loaded.codec.attribute_dim


def test_categorical_channels_weigh_one_channel_in_the_loss():
    from tfusion.timeseries.train import channel_weights

    prep = prepare(whole_cfg(), panel_frame(8))
    w = channel_weights(prep)
    n_num = len(prep.codec.numeric)
    levels = len(prep.codec.categorical[0][1])
    assert w.tolist() == pytest.approx([1.0] * n_num + [1.0 / levels] * levels)
    obj = Objective("eps", "mse")
    pred, target = torch.zeros(2, 4, 3), torch.zeros(2, 4, 3)
    pred[..., 2] = 3.0  # error only in channel 2
    weights = torch.tensor([1.0, 1.0, 0.25])
    assert float(obj(pred, target, weights=weights)) == pytest.approx(9.0 * 0.25 / 3)
    assert float(obj(pred, target)) == pytest.approx(9.0 / 3)


def test_large_attribute_values_that_differ_within_an_entity_are_caught():
    # np.isclose's default rtol (1e-5) had let 100000 then 100001 pass as one constant
    frame = small_frame()
    frame["income"] = frame["id"].map({"e1": 100000, "e2": 200000, "e3": 300000})
    frame.loc[frame.index[1], "income"] = frame.loc[frame.index[0], "income"] + 1
    message = error_of(load_table, frame, **{**PANEL, "static_columns": ["income"]})
    assert "'income'" in message and "varies within entity" in message
    same = small_frame()
    same["stamp"] = same["id"].map({"e1": 1.7e9, "e2": 1.7e9 + 3600, "e3": 1.8e9})
    t = load_table(same, **{**PANEL, "static_columns": ["stamp"]})
    assert t.attributes["stamp"].tolist() == [1.7e9, 1.7e9 + 3600, 1.8e9]


def test_an_entity_on_a_coarser_step_gets_no_invented_rows(tmp_path):
    # six daily entities and one weekly: the weekly one had been filled to 64 rows (54 of them
    # interpolated) and the mixed steps went unreported; a gap error now names its file line
    rows = [
        {"id": f"d{e}", "date": f"2024-01-{1 + t:02d}", "x": float(t + e)}
        for e in range(6)
        for t in range(10)
    ]
    rows += [{"id": "w1", "date": f"2024-{1 + t // 4:02d}-{1 + 7 * (t % 4):02d}", "x": float(t)}
             for t in range(10)]  # fmt: skip
    src = tmp_path / "mix.csv"
    pd.DataFrame(rows).to_csv(src, index=False)
    t = load_table(src, entity_column="id", time_column="date")
    assert np.diff(t.bounds).tolist() == [10] * 7
    assert any("different median time steps" in n for n in t.notices)
    gap = pd.DataFrame(rows[:60]).drop(index=[23, 24])  # two days missing in d2
    gap.to_csv(tmp_path / "gap.csv", index=False)
    message = error_of(
        load_table, tmp_path / "gap.csv", entity_column="id", time_column="date", missing="error"
    )
    assert "2 time steps are missing" in message and "row 22 (line 24)" in message
