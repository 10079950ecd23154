"""Bad input found by a hostile-user review: each case loses nothing and says one line."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from safetensors.torch import save_file
from torch import nn

from helpers import TINY_TIMESERIES, error_of
from tfusion.cli.main import main
from tfusion.config import TrainConfig
from tfusion.diffusion import Objective, SampleSettings, Schedule, from_x0_eps
from tfusion.errors import CheckpointError, ConfigError, DataError
from tfusion.runs import check_run_folder, fresh_demo_run
from tfusion.timeseries.conditional import forecast
from tfusion.timeseries.config import DataConfig, RunConfig, SampleConfig
from tfusion.timeseries.sample import TimeSeriesRun, write_samples
from tfusion.training.checkpoint import load_weights


@pytest.fixture(scope="module")
def air_like(tmp_path_factory) -> tuple[Path, Path]:
    """A tiny run trained on a CSV whose -200 means missing (AirQualityUCI's sentinel)."""
    root = tmp_path_factory.mktemp("sentinel")
    t = np.arange(200)
    frame = pd.DataFrame({"a": np.sin(t / 5), "b": np.cos(t / 7)})
    frame.loc[[20, 50], "a"] = -200.0
    frame.to_csv(root / "data.csv", index=False)
    args = [a for a in TINY_TIMESERIES if not a.startswith("data.s")]
    args += [f"data.source={root / 'data.csv'}", "data.missing_values=[-200]", "train.steps=2"]
    assert main(["train", "--out", str(root / "run"), *args]) == 0
    return root / "run", root / "data.csv"


def test_impute_reads_the_runs_sentinels_as_missing(air_like, tmp_path, capsys):
    run, data = air_like
    out = tmp_path / "filled.csv"
    assert (
        main(["impute", str(run), "--input", str(data), "--out", str(out), "--samples", "1"]) == 0
    )
    assert "filled 2 missing values" in capsys.readouterr().out
    filled = pd.read_csv(out)
    assert (filled["a"] > -10).all()  # the two -200 cells were imputed, not kept as data


def test_impute_and_forecast_refuse_to_write_over_their_input(air_like, tmp_path, capsys):
    run, data = air_like
    copy = tmp_path / "mine.csv"
    shutil.copy(data, copy)
    before = copy.read_bytes()
    for verb in (["impute"], ["forecast", "--horizon", "2"]):
        code = main([*verb, str(run), "--input", str(copy), "--out", str(copy)])
        err = capsys.readouterr().err
        assert code == 2 and "is the --input file" in err and err.count("\n") == 1
    assert copy.read_bytes() == before


def test_resume_refuses_a_run_without_its_optimiser_state(tmp_path):
    # resuming trained weights without train_state.pt would start at step 0 and replace them
    run = tmp_path / "r"
    run.mkdir()
    (run / "config.yaml").write_text("family: timeseries\n")
    (run / "model.safetensors").write_bytes(b"weights")
    msg = error_of(check_run_folder, run, True, cls=ConfigError)
    assert "train_state.pt" in msg and "another --out" in msg
    assert (run / "model.safetensors").read_bytes() == b"weights"
    # a run that stopped before its first checkpoint: the message says how to go on
    (run / "model.safetensors").unlink()
    assert "pass --resume" in error_of(check_run_folder, run, False, cls=ConfigError)
    check_run_folder(run, True)  # and --resume may start it again


def test_demo_never_deletes_what_is_not_a_run(tmp_path):
    mine = tmp_path / "work" / "run"
    mine.mkdir(parents=True)
    (mine / "thesis.txt").write_text("years of work")
    msg = error_of(fresh_demo_run, tmp_path / "work", cls=ConfigError)
    assert "not a tfusion run" in msg
    assert (mine / "thesis.txt").read_text() == "years of work"
    (tmp_path / "file.csv").write_text("a\n1\n")
    assert "is a file" in error_of(fresh_demo_run, tmp_path / "file.csv", cls=ConfigError)
    # the demo's own earlier run is replaced, as before
    (mine / "thesis.txt").unlink()
    (mine / "config.yaml").write_text("family: timeseries\n")
    out, run = fresh_demo_run(tmp_path / "work")
    assert not run.exists() and out.is_dir()


class IndependentNoise(nn.Module):
    """The exact v-prediction for windows of independent N(0, 1) values."""

    def __init__(self, schedule: Schedule) -> None:
        super().__init__()
        self.anchor = nn.Parameter(torch.zeros(1))
        self.schedule = schedule

    def forward(self, x: torch.Tensor, t: torch.Tensor, cond: object = None) -> torch.Tensor:
        a, s = (v.float().view(-1, 1, 1) for v in self.schedule.alpha_sigma(t.double().cpu()))
        x0 = a * x / (a**2 + s**2)
        return from_x0_eps(x0, (x - a * x0) / s, a.flatten(), s.flatten(), "v")


def test_a_long_forecast_does_not_repeat_its_noise_every_round():
    # each round of a rolling forecast had drawn from the same streams: on independent noise
    # the forecast repeated itself every L - context steps
    schedule = Schedule.create("cosine", 1000)
    cfg = RunConfig(data=DataConfig(window=8, scaler="none"), sample=SampleConfig(clip=None))
    from tfusion.data.scalers import Scaler

    scaler = Scaler("none", np.zeros(1), np.ones(1))
    model = IndependentNoise(schedule)
    run = TimeSeriesRun(Path("."), cfg, model, schedule, Objective("v"), scaler, ("x",), 8)
    history = np.random.default_rng(0).standard_normal((16, 1))
    future = forecast(run, history, horizon=12, samples=1, steps=10, resample=1)[:, 0]
    rounds = future.reshape(3, 4)  # context 0.5: 4 new steps per round
    assert not np.allclose(rounds[0], rounds[1]) and not np.allclose(rounds[1], rounds[2])
    # the same call again gives the same forecast (seeded)
    again = forecast(run, history, horizon=12, samples=1, steps=10, resample=1)[:, 0]
    np.testing.assert_array_equal(future, again)


def test_weights_with_nan_are_refused_at_load(tmp_path):
    model = nn.Linear(2, 2)
    weights = {k: v.clone() for k, v in model.state_dict().items()}
    weights["weight"][0, 1] = float("nan")
    save_file(weights, str(tmp_path / "w.safetensors"))
    msg = error_of(load_weights, model, tmp_path / "w.safetensors", cls=CheckpointError)
    assert "NaN" in msg and "'weight'" in msg


@pytest.mark.parametrize("field", ["guidance", "eta", "clip"])
@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_sampling_settings_must_be_finite(field, value):
    msg = error_of(SampleSettings, "dpm++", 5, **{field: value}, cls=ConfigError)
    assert f"--{field}" in msg


def test_sample_csv_header_quotes_awkward_column_names(tmp_path):
    x = np.arange(12, dtype=np.float32).reshape(2, 3, 2)
    path = write_samples(x, tmp_path / "s.csv", columns=("x,y", 'q"uote'))
    back = pd.read_csv(path)
    assert list(back.columns) == ["window", "step", "x,y", 'q"uote']
    np.testing.assert_array_equal(back["x,y"].to_numpy(), x[..., 0].reshape(-1))


def test_unlabelled_npy_removes_the_labels_of_an_earlier_sample(tmp_path):
    x = np.zeros((3, 4, 1), dtype=np.float32)
    write_samples(x, tmp_path / "s.npy", columns=("a",), labels=["u", "v", "u"])
    assert (tmp_path / "s.labels.txt").exists()
    write_samples(np.zeros((5, 4, 1), dtype=np.float32), tmp_path / "s.npy", columns=("a",))
    assert not (tmp_path / "s.labels.txt").exists()


def test_image_labels_far_beyond_their_count_are_refused(tmp_path):
    # one embedding row per class id: ids up to 10^9 had exhausted memory
    from tfusion.data.images import _npz

    images = np.zeros((4, 8, 8, 1), dtype=np.uint8)
    np.savez(tmp_path / "d.npz", images=images, labels=np.array([0, 1, 0, 10**9]))
    msg = error_of(_npz, tmp_path / "d.npz", cls=DataError)
    assert "renumber" in msg


def test_resume_with_another_runs_optimiser_state_is_one_line(tmp_path):
    from tfusion.training.loop import fit

    def loss_fn(m: nn.Module, gen: torch.Generator, world: object) -> torch.Tensor:
        return m(torch.ones(4, m.in_features)).pow(2).mean()

    cfg = TrainConfig(steps=4, stop_after=2, batch_size=4, progress=False, warmup=0, bf16=False)
    for name, width in (("a", 2), ("b", 3)):
        (tmp_path / name).mkdir()
        fit(nn.Linear(width, 1), loss_fn, cfg, tmp_path / name, {})
    shutil.copy(tmp_path / "a" / "train_state.pt", tmp_path / "b" / "train_state.pt")
    msg = error_of(
        fit, nn.Linear(3, 1), loss_fn, cfg, tmp_path / "b", {}, resume=True, cls=CheckpointError
    )
    assert "does not fit this model's optimiser" in msg


def test_seeds_and_step_counts_beyond_what_torch_takes_are_refused(capsys):
    # a seed past 2^64 had overflowed inside torch, T = 10^11 tried to allocate 800 GB
    with pytest.raises(SystemExit):
        main(["sample", "run", "--seed", str(10**23), "--out", "x.csv"])
    assert "--seed: must be 0 to 2^62" in capsys.readouterr().err
    from tfusion.config import DiffusionConfig

    assert "at most 2^62" in error_of(TrainConfig, seed=2**70, cls=ConfigError)
    assert "at most 100000" in error_of(DiffusionConfig, steps=10**11, cls=ConfigError)


def test_training_into_a_folder_of_other_files_is_refused(tmp_path, capsys):
    mine = tmp_path / "work"
    mine.mkdir()
    (mine / "loss.png").write_bytes(b"my plot")
    code = main(["train", "--out", str(mine), *TINY_TIMESERIES, "train.steps=1"])
    assert code == 2 and "not a tfusion run" in capsys.readouterr().err
    assert (mine / "loss.png").read_bytes() == b"my plot" and len(list(mine.iterdir())) == 1
    (tmp_path / "empty").mkdir()  # an empty folder is fine
    assert main(["train", "--out", str(tmp_path / "empty"), *TINY_TIMESERIES, "train.steps=1"]) == 0


def test_a_key_given_twice_in_a_yaml_config_is_refused(tmp_path, capsys):
    # YAML keeps the last of two `data:` sections, silently dropping the first
    cfg = tmp_path / "c.yaml"
    cfg.write_text("data:\n  window: 8\nmodel:\n  depth: 1\ndata:\n  window: 9\n")
    code = main(["train", "--config", str(cfg), "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert code == 2 and "key 'data' appears twice" in err and "line 5" in err
    assert not (tmp_path / "r").exists()


def test_a_run_keeps_its_data_files_absolute_path(tmp_path, monkeypatch):
    # trained with a relative data.source, the run still finds its data from another folder
    from tfusion.timeseries.data import prepare
    from tfusion.timeseries.train import saved_config

    (tmp_path / "d").mkdir()
    t = np.arange(120)
    pd.DataFrame({"a": np.sin(t / 4), "b": np.cos(t / 6)}).to_csv(tmp_path / "d" / "x.csv")
    monkeypatch.chdir(tmp_path)
    args = [a for a in TINY_TIMESERIES if not a.startswith("data.s")]
    assert main(["train", "--out", "run", *args, "data.source=d/x.csv", "train.steps=2"]) == 0
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    cfg = saved_config(tmp_path / "run")
    assert cfg.data.source == str(tmp_path / "d" / "x.csv")
    assert prepare(cfg.data).columns[-2:] == ("a", "b")
    # and it resumes from there too
    assert main(["train", "--out", str(tmp_path / "run"), "--resume", "train.steps=3"]) == 0


def test_sigterm_while_writing_leaves_no_temporary_file(tmp_path, monkeypatch, capsys):
    # a scheduler's SIGTERM had ended the process on the spot, leaving .NAME.XXXX.tmp behind
    import os
    import signal

    import tfusion.cli.main as cli
    from tfusion.io import atomic_path

    target = tmp_path / "out.csv"
    target.write_text("the earlier result\n")

    def verb(args: object) -> None:
        with atomic_path(target) as tmp:
            tmp.write_text("half of a new resu")
            os.kill(os.getpid(), signal.SIGTERM)
            tmp.write_text("never reached")

    monkeypatch.setattr(cli, "_info", verb)
    before = signal.getsignal(signal.SIGTERM)
    assert cli.main(["info"]) == 143
    assert "terminated" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.csv"]
    assert target.read_text() == "the earlier result\n"
    assert signal.getsignal(signal.SIGTERM) == before  # the handler is put back


def test_guidance_on_a_run_without_labels_is_refused(air_like, tmp_path, capsys):
    run, _ = air_like
    out = tmp_path / "g.csv"
    code = main(["sample", str(run), "--n", "2", "--guidance", "2", "--out", str(out)])
    assert code == 2 and "learned none" in capsys.readouterr().err and not out.exists()


def test_impute_on_a_panel_run_says_what_it_needs(tmp_path, capsys):
    rows = [(e, k, np.sin(k / 3 + e)) for e in range(6) for k in range(20)]
    pd.DataFrame(rows, columns=["id", "t", "v"]).to_csv(tmp_path / "p.csv", index=False)
    args = [a for a in TINY_TIMESERIES if not a.startswith("data.s")]
    args += [f"data.source={tmp_path / 'p.csv'}", "data.entity=id", "data.time=t"]
    assert main(["train", "--out", str(tmp_path / "run"), *args, "train.steps=1"]) == 0
    capsys.readouterr()
    out = tmp_path / "f.csv"
    code = main(
        ["impute", str(tmp_path / "run"), "--input", str(tmp_path / "p.csv"), "--out", str(out)]
    )
    err = capsys.readouterr().err
    assert code == 2 and "learned a panel" in err and not out.exists()


def _half_trained_run(tmp_path) -> tuple[pd.DataFrame, str]:
    """A two-column series in x.csv and a run stopped after 2 of its 4 steps."""
    t = np.arange(120)
    frame = pd.DataFrame({"a": np.sin(t / 4), "b": np.cos(t / 6)})
    frame.to_csv(tmp_path / "x.csv", index=False)
    args = [a for a in TINY_TIMESERIES if not a.startswith("data.s")]
    args += [f"data.source={tmp_path / 'x.csv'}", "train.steps=4", "train.checkpoint_every=1"]
    run = str(tmp_path / "run")
    assert main(["train", "--out", run, *args, "train.stop_after=2"]) == 0
    return frame, run


def test_resume_refuses_a_data_file_that_changed_since(tmp_path, capsys):
    frame, run = _half_trained_run(tmp_path)
    pd.concat([frame, frame * 100]).to_csv(tmp_path / "x.csv", index=False)  # grown, rescaled
    capsys.readouterr()
    assert main(["train", "--out", run, "--resume", "train.stop_after=null"]) == 2
    err = capsys.readouterr().err
    assert "has changed since run" in err and "120 rows then, 240 now" in err


def test_resume_and_evaluate_refuse_values_that_changed_with_the_same_row_count(tmp_path, capsys):
    # only rows and window counts had been compared: an edited file of the same length was
    # resumed on, and evaluate scored the run against held-out windows it never had
    frame, run = _half_trained_run(tmp_path)
    out = tmp_path / "ev"
    frame.to_csv(tmp_path / "x.csv", index=False, float_format="%.17g")  # same values: fine
    capsys.readouterr()
    assert main(["evaluate", run, "--n", "4", "--steps", "2", "--metrics", "correlational",
                 "--repeats", "1", "--no-baselines", "--out", str(out)]) == 0  # fmt: skip
    edited = frame.copy()
    edited.loc[60, "a"] = 5.0  # one cell
    edited.to_csv(tmp_path / "x.csv", index=False)
    capsys.readouterr()
    assert main(["train", "--out", run, "--resume", "train.stop_after=null"]) == 2
    err = capsys.readouterr().err
    assert "has changed since run" in err and "other values or windows" in err
    assert main(["evaluate", run, "--n", "4", "--steps", "2", "--out", str(tmp_path / "e2")]) == 2
    err = capsys.readouterr().err
    assert "has changed since run" in err and "--real" in err
    assert not (tmp_path / "e2").exists()


def test_resume_with_a_config_file_is_refused(tmp_path, capsys):
    # --config was silently ignored by --resume (even one of another family)
    cfg = tmp_path / "other.yaml"
    cfg.write_text("family: dit\n")
    code = main(["train", "--config", str(cfg), "--out", str(tmp_path / "r"), "--resume"])
    assert code == 2 and "leave --config out" in capsys.readouterr().err


def test_evaluate_refuses_options_a_run_would_ignore(air_like, tmp_path, capsys):
    run, _ = air_like
    code = main(["evaluate", str(run), "--window", "5", "--out", str(tmp_path / "e")])
    assert code == 2 and "--window cuts a --real series" in capsys.readouterr().err
    dit = tmp_path / "dit_run"  # the family is read from config.yaml before anything loads
    dit.mkdir()
    (dit / "config.yaml").write_text("family: dit\n")
    code = main(["evaluate", str(dit), "--metrics", "lds", "--out", str(tmp_path / "f")])
    assert code == 2 and "a dit run's report has its own" in capsys.readouterr().err
    # the suite's budgets were accepted and ignored by image reports too
    for flags in (["--quick"], ["--repeats", "5"], ["--workers", "2", "--no-baselines"]):
        assert main(["evaluate", str(dit), *flags, "--out", str(tmp_path / "f")]) == 2
        err = capsys.readouterr().err
        assert all(f in err for f in flags if f.startswith("--")) and "report has its own" in err
    assert not (tmp_path / "e").exists() and not (tmp_path / "f").exists()


def test_sample_impute_and_forecast_refuse_to_overwrite_the_training_data(tmp_path, capsys):
    # `--out` the run's own data file had silently replaced it with synthetic windows
    t = np.arange(120)
    frame = pd.DataFrame({"a": np.sin(t / 4), "b": np.cos(t / 6)})
    data = tmp_path / "x.csv"
    frame.to_csv(data, index=False)
    args = [a for a in TINY_TIMESERIES if not a.startswith("data.s")]
    run = str(tmp_path / "run")
    assert main(["train", "--out", run, *args, f"data.source={data}", "train.steps=2"]) == 0
    before = data.read_bytes()
    other = tmp_path / "in.csv"
    frame.iloc[:40].to_csv(other, index=False)
    capsys.readouterr()
    for argv in (
        ["sample", run, "--n", "2", "--steps", "2", "--out", str(data)],
        ["impute", run, "--input", str(other), "--out", str(data)],
        ["forecast", run, "--input", str(other), "--horizon", "4", "--out", str(data)],
    ):
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert "is the data file run" in err and "trained on" in err
    assert data.read_bytes() == before
