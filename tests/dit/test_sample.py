"""DiTRun.generate builds one SampleSettings from the run's sample section and the call."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from tfusion.config import DiffusionConfig
from tfusion.diffusion import Schedule, make_sampler, sample_loop
from tfusion.dit.config import DiTRunConfig, ImageSampleConfig
from tfusion.dit.model import DiT, DiTShape
from tfusion.dit.sample import DiTRun

T = 30


def tiny_run(**sample) -> DiTRun:
    torch.manual_seed(0)
    model = DiT(DiTShape(image_size=4, channels=1, num_classes=2, depth=1, width=8, heads=2))
    for p in model.parameters():  # off the zero init, so guidance and steps matter
        torch.nn.init.normal_(p, std=0.2)
    cfg = DiTRunConfig(
        diffusion=DiffusionConfig(steps=T, prediction="eps"), sample=ImageSampleConfig(**sample)
    )
    return DiTRun(Path("stub"), cfg, model.eval(), Schedule.create("linear", T), ("0", "1"))


def count_passes(run: DiTRun) -> list[int]:
    batches: list[int] = []
    run.model.blocks[0].register_forward_hook(lambda m, i, o: batches.append(i[0].shape[0]))
    return batches


def test_step_counts_and_guidance():
    run = tiny_run(steps=5, guidance=1.0)
    passes = count_passes(run)
    run.generate([0, 1])
    assert passes == [2] * 5
    passes.clear()
    run.generate([0, 1], sampler="ddpm")  # no step count: every step of the schedule
    assert passes == [2] * T
    passes.clear()
    run.generate([0, 1], sampler="ddpm", steps=3, guidance=2.0)
    assert passes == [4] * 3  # guided: conditional and unconditional in one pass


def test_generate_is_the_loop_with_the_run_settings_and_the_call_overrides():
    run = tiny_run(steps=5, guidance=2.0, clip=0.5, eta=0.3, spacing="karras")
    x = run.generate([1, 0, 1], sampler="dpm++", steps=6, seed=3, batch_size=2)
    gen = torch.Generator().manual_seed(3)
    parts = []
    for labels in ([1, 0], [1]):
        with torch.no_grad():
            parts.append(
                sample_loop(
                    run.model.guided(torch.tensor(labels), 2.0),
                    (len(labels), 1, 4, 4),
                    run.schedule,
                    "eps",
                    make_sampler("dpm++", 0.3),
                    6,
                    gen,
                    clip_x0=0.5,
                    spacing="karras",
                ).clamp(-1, 1)
            )
    np.testing.assert_array_equal(x, torch.cat(parts).numpy())
