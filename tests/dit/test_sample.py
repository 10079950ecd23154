"""DiTRun.generate builds one SampleSettings from the run's sample section and the call."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from tfusion.config import DiffusionConfig
from tfusion.diffusion import Schedule, make_sampler, sample_loop
from tfusion.dit.config import DiTRunConfig, ImageSampleConfig
from tfusion.dit.model import DiT, DiTShape
from tfusion.dit.sample import DiTRun
from tfusion.errors import ConfigError

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
    parts = []
    for start, labels in ((0, [1, 0]), (2, [1])):
        gen = [torch.Generator().manual_seed(3 + start + i) for i in range(len(labels))]
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


def test_an_image_does_not_depend_on_the_batch():
    # ancestral DDPM draws noise at every step, and 4 x 4 x 1 = 16 values per image is no
    # multiple of CPU randn's block: one shared stream would change every image with the batch
    run = tiny_run(steps=4, guidance=2.0)
    for sampler in ("ddpm", "ddim"):
        together = run.generate([0, 1, 1, 0, 1], sampler=sampler, steps=4, seed=5, batch_size=5)
        split = run.generate([0, 1, 1, 0, 1], sampler=sampler, steps=4, seed=5, batch_size=2)
        alone = run.generate([0], sampler=sampler, steps=4, seed=8)  # image 3 of seed 5
        # equal up to float rounding (the kernels differ with the batch size)
        np.testing.assert_allclose(together, split, atol=1e-5)
        np.testing.assert_allclose(together[3], alone[0], atol=1e-5)
        assert np.abs(together[0] - together[3]).max() > 0.1  # same label, own noise


def test_a_section_naming_ddpm_samples_its_own_step_count():
    # configs/dit-paper.yaml: sampler ddpm with steps 250, DiT's respaced ancestral sampler
    run = tiny_run(sampler="ddpm", steps=6, guidance=1.0)
    passes = count_passes(run)
    run.generate([0, 1])
    assert passes == [2] * 6
    assert run.settings().num_steps(run.schedule) == 6


def test_guidance_without_label_dropout_is_refused():
    run = tiny_run(steps=3, guidance=1.5)
    run.cfg = replace(run.cfg, model=replace(run.cfg.model, class_dropout=0.0))
    with pytest.raises(ConfigError, match="class_dropout=0"):
        run.generate([0, 1])
    assert run.generate([0, 1], guidance=1.0).shape == (2, 1, 4, 4)
