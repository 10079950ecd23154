"""TimeSeriesRun.generate and impute_windows build one SampleSettings: the run's sample section
with the call's overrides, and ddpm without a step count runs every step of the schedule."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from tfusion.config import DiffusionConfig
from tfusion.diffusion import make_sampler, sample_loop
from tfusion.timeseries.conditional import impute_windows
from tfusion.timeseries.config import RunConfig, SampleConfig
from tfusion.timeseries.sample import TimeSeriesRun
from tfusion.timeseries.train import make_diffusion

T = 30


class Recording(torch.nn.Module):
    """A fixed denoiser that records the batch size of every call."""

    def __init__(self) -> None:
        super().__init__()
        self.batches: list[int] = []

    def forward(self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor | None = None):
        self.batches.append(x.shape[0])
        out = 0.7 * x + 0.1 * t[:, None, None]
        return out if y is None else out + 0.01 * y[:, None, None]


class Identity:
    def transform(self, x):
        return x

    def inverse_transform(self, x):
        return x


def stub_run(**sample) -> TimeSeriesRun:
    cfg = RunConfig(diffusion=DiffusionConfig(steps=T), sample=SampleConfig(**sample))
    schedule, objective = make_diffusion(cfg)
    return TimeSeriesRun(
        Path("stub"), cfg, Recording(), schedule, objective, Identity(), ("a", "b"), 6, ("x", "y")
    )


def test_step_counts():
    run = stub_run(steps=7)  # dpm++ by default
    run.generate(2, scaled=True)
    assert len(run.model.batches) == 7
    run.model.batches.clear()
    run.generate(2, sampler="ddpm", scaled=True)
    assert len(run.model.batches) == T
    run.model.batches.clear()
    run.generate(2, sampler="ddpm", steps=4, scaled=True)
    assert len(run.model.batches) == 4
    ddpm_run = stub_run(sampler="ddpm", steps=7)  # a section naming ddpm: its own 7 steps
    ddpm_run.generate(2, scaled=True)
    assert len(ddpm_run.model.batches) == 7


def test_guidance_comes_from_the_section_or_the_call():
    run = stub_run(steps=3, guidance=1.0)
    run.generate(2, labels="x", scaled=True)
    assert run.model.batches == [2] * 3  # scale 1: the conditional model alone
    run.model.batches.clear()
    run.generate(2, labels="x", guidance=2.0, scaled=True)
    assert run.model.batches == [4] * 3  # conditional and unconditional in one batch
    guided = stub_run(steps=3, guidance=2.0)
    guided.generate(2, labels="x", scaled=True)
    assert guided.model.batches == [4] * 3


def test_generate_is_the_loop_with_the_run_settings_and_the_call_overrides():
    run = stub_run(steps=7, clip=0.5)
    x = run.generate(5, sampler="ddim", eta=0.5, spacing="quadratic", seed=4, batch_size=3)
    parts = [  # window i from its own stream, seed + i
        sample_loop(
            run.model,
            (b, 6, 2),
            run.schedule,
            "v",
            make_sampler("ddim", 0.5),
            7,
            [torch.Generator().manual_seed(4 + start + i) for i in range(b)],
            clip_x0=0.5,
            spacing="quadratic",
        )
        for start, b in ((0, 3), (3, 2))
    ]
    np.testing.assert_array_equal(x, torch.cat(parts).numpy())


def test_imputation_uses_the_run_eta_and_clip_on_the_uniform_grid():
    run = stub_run(steps=7, eta=0.4, clip=0.5, spacing="karras")
    windows = np.zeros((1, 6, 2))
    windows[0, 2:4] = np.nan
    got = impute_windows(run, windows, samples=2, sampler="dpm++", steps=None, resample=1)
    known = torch.from_numpy(~np.isnan(windows)).repeat_interleave(2, 0)
    values = torch.zeros(2, 6, 2)
    draw = sample_loop(
        run.model,
        (2, 6, 2),
        run.schedule,
        "v",
        make_sampler("dpm++", 0.4),
        7,
        [torch.Generator().manual_seed(k) for k in (0, 1)],  # window 0's two draws
        clip_x0=0.5,
        known=(known, values),
        spacing="uniform",
    )
    want = np.where(np.isnan(windows), draw.double().numpy().mean(0, keepdims=True), windows)
    np.testing.assert_array_equal(got, want)
    run.model.batches.clear()
    impute_windows(run, windows, samples=2, steps=None, resample=1)  # ddpm: every step
    assert len(run.model.batches) == T


def test_a_window_does_not_depend_on_the_batch():
    run = stub_run(steps=4, eta=1.0)  # the SDE draws noise at every step
    together = run.generate(5, seed=2, batch_size=5, scaled=True)
    split = run.generate(5, seed=2, batch_size=2, scaled=True)
    alone = run.generate(1, seed=5, scaled=True)  # window 3 of seed 2
    np.testing.assert_allclose(together, split, atol=1e-6)
    np.testing.assert_allclose(together[3], alone[0], atol=1e-6)
    assert np.abs(together[0] - together[1]).max() > 0.1
