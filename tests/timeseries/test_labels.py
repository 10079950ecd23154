"""Label-conditional time series: a label column becomes classes, windows stay inside one
label's stretch, and the model draws windows of the class it is asked for."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tfusion.cli.main import main
from tfusion.config import apply_overrides
from tfusion.data import load_table
from tfusion.errors import ConfigError, DataError
from tfusion.timeseries.config import RunConfig
from tfusion.timeseries.data import prepare
from tfusion.timeseries.sample import TimeSeriesRun
from tfusion.timeseries.train import train_timeseries


def regimes_csv(path, stretches: int = 16, length: int = 30, seed: int = 0):
    """Alternating stretches: `calm` near -3 with small noise, `storm` near +3 with large."""
    rng = np.random.default_rng(seed)
    rows = []
    for k in range(stretches):
        name = ("calm", "storm")[k % 2]
        level, noise = (-3.0, 0.1) if name == "calm" else (3.0, 0.6)
        for _ in range(length):
            rows.append((level + noise * rng.standard_normal(), 0.5 * rng.standard_normal(), name))
    pd.DataFrame(rows, columns=["x", "y", "regime"]).to_csv(path, index=False)
    return path


def test_label_column_is_not_a_feature_and_follows_dropped_and_reversed_rows(tmp_path):
    path = tmp_path / "l.csv"
    path.write_text("a,lab,b\n1,x,2\n,,\n3,y,4\n5,1.0,\n7,2,8\n")
    t = load_table(path, missing="drop", label_column="lab")
    assert t.columns == ("a", "b")
    # the blank row is dropped with its label; numbers print without ".0"; the row with a
    # missing b is dropped by the policy, and its label with it
    assert t.labels.tolist() == ["x", "y", "2"]
    r = load_table(path, missing="drop", label_column="lab", reverse=True)
    assert r.labels.tolist() == ["2", "y", "x"]
    assert np.array_equal(r.values, t.values[::-1])


def test_missing_label_and_label_as_feature_are_clear_errors(tmp_path):
    path = tmp_path / "l.csv"
    path.write_text("a,lab\n1,x\n2,\n3,y\n")
    with pytest.raises(DataError, match=r"label column 'lab' .* is empty at row 1"):
        load_table(path, label_column="lab")
    with pytest.raises(ConfigError, match=r"cannot also be in data\.columns"):
        load_table(path, columns=["a", "lab"], label_column="lab")
    with pytest.raises(DataError, match="unknown column 'nope'"):
        load_table(path, label_column="nope")


def test_windows_never_cross_a_label_change(tmp_path):
    src = regimes_csv(tmp_path / "r.csv", stretches=4, length=10)
    cfg = apply_overrides(
        RunConfig(), [f"data.source={src}", "data.label=regime", "data.window=4", "data.split=none"]
    )
    data = prepare(cfg.data)
    assert data.classes == ("calm", "storm") and data.columns == ("x", "y")
    # 4 stretches of 10 steps: 37 windows of 4, of which 3 x 3 straddle a change
    assert len(data.train) == 37 - 9
    assert any("left out 9 of 37 windows" in n for n in data.notices)
    y = data.labels(data.train)
    for w, label in zip(data.train.to_array(), y, strict=True):
        assert (np.sign(data.inverse(w)[:, 0]) == (1 if label == 1 else -1)).all()


@pytest.fixture(scope="module")
def labelled_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("labels")
    src = regimes_csv(root / "regimes.csv")
    cfg = apply_overrides(
        RunConfig(),
        [
            f"data.source={src}",
            "data.label=regime",
            "data.window=8",
            "model.preset=tiny",
            "model.width=32",
            "model.depth=2",
            "model.ff=64",
            "train.steps=400",
            "train.batch_size=32",
            "train.lr=3e-3",
            "train.warmup=20",
            "train.progress=false",
            "train.checkpoint_every=400",
            "sample.steps=20",
        ],
    )
    train_timeseries(cfg, root / "run")
    return root


def test_samples_follow_the_asked_label(labelled_run):
    run = TimeSeriesRun.load(labelled_run / "run")
    assert run.classes == ("calm", "storm")
    calm = run.generate(40, labels="calm", seed=1)[..., 0]
    storm = run.generate(40, labels=["storm"] * 40, seed=1)[..., 0]
    # the classes sit at -3 and +3 with noise 0.1 and 0.6
    assert np.mean(calm.mean(1) < 0) >= 0.95 and np.mean(storm.mean(1) > 0) >= 0.95
    assert calm.std(1).mean() < storm.std(1).mean()
    # ids work like names; guidance > 1 keeps the class
    ids = run.generate(20, labels=np.ones(20, dtype=np.int64), seed=2, guidance=3.0)[..., 0]
    assert np.mean(ids.mean(1) > 0) >= 0.95
    # without labels: the unconditional model draws both regimes
    free = run.generate(60, seed=3)[..., 0].mean(1)
    assert (free < 0).sum() >= 10 and (free > 0).sum() >= 10


def test_cli_writes_labels_and_rejects_unknown_ones(labelled_run, capsys):
    out = labelled_run / "s.csv"
    assert main(["sample", str(labelled_run / "run"), "--n", "6", "--out", str(out)]) == 0
    frame = pd.read_csv(out)
    assert list(frame.columns) == ["window", "label", "step", "x", "y"]
    per_window = frame.groupby("window")["label"].first().tolist()
    assert per_window == ["calm", "storm"] * 3  # class-balanced by default
    npy = labelled_run / "s.npy"
    assert (
        main(
            [
                "sample",
                str(labelled_run / "run"),
                "--n",
                "3",
                "--labels",
                "storm",
                "--out",
                str(npy),
            ]
        )
        == 0
    )
    assert np.load(npy).shape == (3, 8, 2)
    assert npy.with_suffix(".labels.txt").read_text().split() == ["storm"] * 3
    capsys.readouterr()
    bad = labelled_run / "bad.csv"
    code = main(["sample", str(labelled_run / "run"), "--labels", "hail", "--out", str(bad)])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "unknown label 'hail'" in err and "calm, storm" in err and "\n" not in err
    assert not bad.exists()
