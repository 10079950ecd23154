"""Imputation, forecasting and sampling against an exact denoiser: windows from a known Gaussian
process, whose Bayes-optimal prediction at every noise level is closed form, so what the
conditional paths return can be checked against the truth without training a model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from tfusion.data.scalers import Scaler
from tfusion.diffusion import Objective, Schedule, from_x0_eps
from tfusion.timeseries.conditional import forecast, impute_series
from tfusion.timeseries.config import DataConfig, RunConfig, SampleConfig, sample_clip
from tfusion.timeseries.sample import TimeSeriesRun

L = 16
SCHEDULE = Schedule.create("cosine", 1000)


class ExactGaussian(nn.Module):
    """The exact v-prediction for windows x0 ~ N(mean, cov) of one channel; records the window
    lengths it is called with."""

    def __init__(self, mean: np.ndarray, cov: np.ndarray) -> None:
        super().__init__()
        self.anchor = nn.Parameter(torch.zeros(1))  # the sampler reads the device from it
        self.mean = torch.tensor(mean, dtype=torch.float64)
        self.cov = torch.tensor(cov, dtype=torch.float64)
        self.lengths: list[int] = []

    def forward(self, x: torch.Tensor, t: torch.Tensor, cond: object = None) -> torch.Tensor:
        self.lengths.append(x.shape[1])
        a, s = SCHEDULE.alpha_sigma(t.double().cpu())
        xs = x.double()[..., 0]
        n = xs.shape[1]
        m, c = self.mean[:n], self.cov[:n, :n]
        av, sv = a.view(-1, 1, 1), s.view(-1, 1, 1)
        gain = av * c @ torch.linalg.inv(av**2 * c + sv**2 * torch.eye(n, dtype=torch.float64))
        x0 = m + (gain @ (xs - a.view(-1, 1) * m)[..., None])[..., 0]
        eps = (xs - a.view(-1, 1) * x0) / s.view(-1, 1)
        return from_x0_eps(x0, eps, a, s, "v").float()[..., None]


def trend_run(reverse: bool, slope: float = -0.1) -> TimeSeriesRun:
    """A run whose windows (in its own time direction) have a random level and a trend of
    `slope` per step forward in time: reversed in time, the model's windows climb."""
    k = np.arange(L)
    mean = (-slope if reverse else slope) * k
    cov = 1.0 + 0.05 * 0.8 ** np.abs(k[:, None] - k[None, :])
    cfg = RunConfig(
        data=DataConfig(window=L, reverse=reverse, scaler="none"), sample=SampleConfig(clip=None)
    )
    scaler = Scaler("none", np.zeros(1), np.ones(1))
    model = ExactGaussian(mean, cov)
    return TimeSeriesRun(Path("."), cfg, model, SCHEDULE, Objective("v"), scaler, ("x",), L)


def falling_series(n: int) -> np.ndarray:
    noise = 0.05 * np.random.default_rng(0).standard_normal(n)
    return (3.0 - 0.1 * np.arange(n) + noise)[:, None]


@pytest.mark.parametrize("reverse", [False, True])
def test_forecast_follows_the_trend_forward_in_time_whatever_the_training_direction(reverse):
    # the series falls 0.1 per step; a run trained on it reversed (data.reverse, TransFusion's
    # protocol) must still forecast the fall, not the climb of its reversed windows
    history = falling_series(64)
    run = trend_run(reverse)
    future = forecast(run, history, horizon=8, samples=8, steps=50, resample=3)[:, 0]
    steps = np.diff(np.concatenate([history[-1:, 0], future]))
    assert -0.2 < steps.mean() < -0.05, (reverse, np.round(future, 2))
    assert abs(future[0] - (history[-1, 0] - 0.1)) < 0.3


def test_impute_series_fills_a_reversed_run_in_forward_time():
    truth = falling_series(48)
    given = truth.copy()
    given[43:] = np.nan  # the last steps: filled from the past alone, direction matters
    for reverse in (False, True):
        filled = impute_series(trend_run(reverse), given, samples=8, steps=50, resample=3)
        np.testing.assert_array_equal(filled[~np.isnan(given)], truth[~np.isnan(given)])
        err = np.abs(filled[43:] - truth[43:]).max()
        assert err < 0.3, (reverse, filled[40:, 0], truth[40:, 0])


def test_a_short_history_still_gives_the_model_whole_windows():
    # 6 steps of history, fewer than L - h: the model (trained on L steps) must still be called
    # on windows of L steps, the missing start left for it to fill
    run = trend_run(False)
    future = forecast(run, falling_series(10)[-6:], horizon=3, context=0.25, steps=10, samples=2)
    assert future.shape == (3, 1) and np.isfinite(future).all()
    assert set(run.model.lengths) == {L}


class ExactStandardNormal(nn.Module):
    """The exact v-prediction for x0 ~ N(0, 1) entrywise: a standard-scaled series."""

    def __init__(self) -> None:
        super().__init__()
        self.anchor = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor, t: torch.Tensor, cond: object = None) -> torch.Tensor:
        a, s = (v.float().view(-1, 1, 1) for v in SCHEDULE.alpha_sigma(t.double().cpu()))
        x0 = a * x / (a**2 + s**2)
        return from_x0_eps(x0, (x - a * x0) / s, a.flatten(), s.flatten(), "v")


def test_the_default_clip_follows_the_scaler():
    clip = {
        kind: sample_clip(RunConfig(data=DataConfig(scaler=kind)))
        for kind in ("minmax", "unit", "standard", "none")
    }
    assert clip == {"minmax": 1.0, "unit": 1.0, "standard": None, "none": None}
    # an explicit value is kept whatever the scaler
    explicit = RunConfig(data=DataConfig(scaler="standard"), sample=SampleConfig(clip=4.0))
    assert sample_clip(explicit) == 4.0


def test_standard_scaled_samples_reach_beyond_one_standard_deviation():
    # with data.scaler=standard, +-1 is one standard deviation, not the data's range: the
    # default must not clamp the model's predictions there
    cfg = RunConfig(data=DataConfig(window=8, scaler="standard"))
    scaler = Scaler("standard", np.zeros(2), np.ones(2))
    run = TimeSeriesRun(Path("."), cfg, ExactStandardNormal(), SCHEDULE, Objective("v"), scaler,
                        ("a", "b"), 8)  # fmt: skip
    x = run.generate(400, seed=0, steps=20, scaled=True)
    assert np.abs(x).max() > 2.5
    assert 0.85 < x.std() < 1.15
