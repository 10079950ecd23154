"""Imputation and forecasting with a tiny trained model on a regular series."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from helpers import error_of
from tfusion.cli.main import main
from tfusion.config import TrainConfig
from tfusion.timeseries.conditional import forecast, impute_series, impute_windows
from tfusion.timeseries.config import DataConfig, ModelConfig, RunConfig, SampleConfig
from tfusion.timeseries.sample import TimeSeriesRun
from tfusion.timeseries.train import train_timeseries


def regular_series(n: int = 1200) -> np.ndarray:
    t = np.arange(n)
    return np.stack([np.sin(2 * np.pi * t / 12), np.cos(2 * np.pi * t / 12) * 2 + 5], axis=1)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("cond")
    csv = root / "series.csv"
    x = regular_series()
    csv.write_text("a,b\n" + "\n".join(f"{u:.6f},{v:.6f}" for u, v in x))
    cfg = RunConfig(
        data=DataConfig(source=str(csv), window=12, split="none"),
        model=ModelConfig(preset="tiny", width=48, depth=2, ff=96),
        train=TrainConfig(steps=600, batch_size=64, lr=2e-3, warmup=20, progress=False),
        sample=SampleConfig(steps=10),
    )
    train_timeseries(cfg, root / "run")
    return root / "run", csv


def test_imputation_keeps_observed_values_and_beats_mean_filling(run):
    path, _ = run
    r = TimeSeriesRun.load(path)
    truth = regular_series(240)
    rng = np.random.default_rng(0)
    holes = rng.random(truth.shape) < 0.5
    given = np.where(holes, np.nan, truth)
    filled = impute_series(r, given, samples=3, steps=50, resample=3)
    assert np.isfinite(filled).all()
    np.testing.assert_array_equal(filled[~holes], truth[~holes])
    mse = ((filled - truth)[holes] ** 2).mean()
    mean_fill = ((np.nanmean(given, axis=0) - truth)[holes] ** 2).mean()
    assert mse < 0.25 * mean_fill, (mse, mean_fill)


def test_forecast_continues_the_cycle(run):
    path, _ = run
    r = TimeSeriesRun.load(path)
    x = regular_series(300)
    future = forecast(r, x[:288], horizon=12, samples=3, steps=50, resample=3)
    assert future.shape == (12, 2)
    naive = ((x[288:] - x[:288].mean(axis=0)) ** 2).mean()  # predicting the level only
    assert ((future - x[288:]) ** 2).mean() < 0.25 * naive


def test_conditional_errors_are_one_line(run):
    path, _ = run
    r = TimeSeriesRun.load(path)
    x = regular_series(100)
    assert "horizon" in error_of(forecast, r, x, 0)
    gappy = x.copy()
    gappy[5, 0] = np.nan
    assert "impute" in error_of(forecast, r, gappy, 4)
    assert "fewer" in error_of(impute_series, r, x[:5])
    assert "(n, L, 2)" in error_of(impute_windows, r, np.zeros((2, 12, 3)))


def test_cli_impute_writes_a_complete_csv(run, tmp_path, capsys):
    path, _ = run
    x = regular_series(60)
    x[::7, 1] = np.nan
    src = tmp_path / "gappy.csv"
    src.write_text(
        "a,b\n" + "\n".join(",".join("" if np.isnan(v) else f"{v:.6f}" for v in row) for row in x)
    )
    out = tmp_path / "filled.csv"
    args = ["impute", str(path), "--input", str(src), "--out", str(out), "--samples", "1"]
    assert main(args) == 0
    lines = out.read_text().splitlines()
    assert lines[0] == "a,b" and len(lines) == 61
    values = np.loadtxt(out, delimiter=",", skiprows=1)
    assert np.isfinite(values).all()
    bad = tmp_path / "filled.txt"
    capsys.readouterr()
    assert main(["impute", str(path), "--input", str(src), "--out", str(bad)]) == 2
    assert "csv" in capsys.readouterr().err and not bad.exists()


def test_sde_is_the_default_and_a_saved_eta_wins(run, tmp_path):
    path, _ = run
    r = TimeSeriesRun.load(path)
    assert r.cfg.sample.eta == 1.0  # new runs sample with DPM-Solver++ SDE
    default = r.generate(16, seed=4, scaled=True)
    np.testing.assert_array_equal(default, r.generate(16, seed=4, scaled=True, eta=1.0))
    ode = r.generate(16, seed=4, scaled=True, eta=0.0)
    assert np.abs(default - ode).max() > 1e-3  # the noise level really reaches the sampler
    # both draw the cycle the model learnt: values in range, neighbouring steps correlated
    for x in (default, ode):
        assert np.abs(x).max() <= 1.0 + 1e-6
        lag1 = np.corrcoef(x[:, :-1, 0].ravel(), x[:, 1:, 0].ravel())[0, 1]
        assert lag1 > 0.5, lag1
    # a run saved before the default changed (sample.eta: 0.0 in its config) keeps the ODE
    old = tmp_path / "old"
    shutil.copytree(path, old)
    cfg = (old / "config.yaml").read_text()
    assert "eta: 1.0" in cfg
    (old / "config.yaml").write_text(cfg.replace("eta: 1.0", "eta: 0.0"))
    np.testing.assert_array_equal(TimeSeriesRun.load(old).generate(16, seed=4, scaled=True), ode)
