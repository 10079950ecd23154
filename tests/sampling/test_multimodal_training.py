"""Transfusion training on shapes: run folder, exact resume, learning, loading and decoding."""

from __future__ import annotations

import json

import numpy as np
from safetensors.numpy import load_file

from tfusion.config import (
    MultimodalDataConfig,
    MultimodalModelConfig,
    MultimodalRunConfig,
    MultimodalSampleConfig,
    TrainConfig,
)
from tfusion.sampling.multimodal import load_multimodal
from tfusion.training.multimodal import train_multimodal


def tiny(steps: int, **train) -> MultimodalRunConfig:
    return MultimodalRunConfig(
        data=MultimodalDataConfig(samples=200, size=16),
        model=MultimodalModelConfig(width=32, depth=2, heads=2, patch=4),
        train=TrainConfig(
            steps=steps,
            batch_size=8,
            lr=3e-3,
            warmup=5,
            progress=False,
            log_every=10,
            checkpoint_every=steps,
            betas=(0.9, 0.95),
            weight_decay=0.1,
            **train,
        ),
        sample=MultimodalSampleConfig(steps=4, sampler="dpm++", guidance=2.0, max_tokens=8),
    )


def test_training_learns_and_the_run_decodes(tmp_path):
    run = tmp_path / "run"
    train_multimodal(tiny(120), run)
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert rows[-1]["loss"] < 0.7 * rows[0]["loss"], (rows[0]["loss"], rows[-1]["loss"])
    gen = load_multimodal(run)
    images = gen.text_to_image(["a red circle on the left"], 2.0, "dpm++", 4)
    assert images.shape == (1, 3, 16, 16) and np.isfinite(images).all()
    captions = gen.caption(images, max_tokens=6)
    assert len(captions) == 1 and isinstance(captions[0], str)
    assert gen.caption_perplexity(images, ["a red circle on the left"]) > 1.0


def test_resume_is_exact(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    train_multimodal(tiny(6), a)
    train_multimodal(tiny(6, stop_after=3), b)
    train_multimodal(tiny(6), b, resume=True)
    wa, wb = load_file(a / "ema.safetensors"), load_file(b / "ema.safetensors")
    assert wa.keys() == wb.keys()
    for k in wa:
        assert np.array_equal(wa[k], wb[k]), k
