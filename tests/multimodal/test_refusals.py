"""Transfusion options that cannot work are refused in one line, not silently ignored."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from helpers import error_of
from tfusion.config import DiffusionConfig
from tfusion.diffusion import Schedule
from tfusion.errors import ConfigError, DataError
from tfusion.multimodal.config import MultimodalModelConfig, MultimodalRunConfig
from tfusion.multimodal.decode import ImageSpec, MultimodalGenerator
from tfusion.multimodal.model import MultimodalShape, MultimodalTransformer

SPEC = ImageSpec(channels=3, size=16, patch=4)


def generator(unconditional: bool = True) -> MultimodalGenerator:
    torch.manual_seed(0)
    shape = MultimodalShape(vocab=261, patch_dim=SPEC.patch_dim, width=32, depth=1, heads=2)
    model = MultimodalTransformer(shape)
    schedule = Schedule.create("cosine", 1000)
    return MultimodalGenerator(model, SPEC, schedule, "eps", unconditional=unconditional)


@pytest.mark.parametrize("option", [{"time_embedding": "before"}, {"patch_positions": "sincos"}])
def test_linear_map_options_are_refused_with_the_unet(option):
    # the U-Net embeds time and place itself: these options changed nothing with it
    msg = error_of(MultimodalModelConfig, encoder="unet", **option, cls=ConfigError)
    assert f"model.{next(iter(option))}" in msg and "U-Net" in msg
    MultimodalModelConfig(encoder="linear", **option)  # the linear map takes them


@pytest.mark.parametrize("diffusion", [{"loss": "l1"}, {"fourier_weight": 0.5}])
def test_loss_options_the_multimodal_loss_ignores_are_refused(diffusion):
    msg = error_of(
        MultimodalRunConfig, diffusion=DiffusionConfig(schedule="cosine", **diffusion),
        cls=ConfigError,
    )  # fmt: skip
    assert "squared error" in msg


def test_guidance_needs_a_trained_caption_free_prefix():
    gen = generator(unconditional=False)
    msg = error_of(gen.text_to_image, ["a red circle"], 3.0, "dpm++", 2, cls=ConfigError)
    assert "--guidance 1" in msg and "caption_dropout" in msg
    images = gen.text_to_image(["a red circle"], 1.0, "dpm++", 2)  # unguided still draws
    assert images.shape == (1, 3, 16, 16)


@pytest.mark.parametrize("shape", [(1, 3, 32, 32), (1, 1, 16, 16), (3, 16, 16)])
def test_images_of_another_size_are_refused(shape):
    # a 32 x 32 image had been read as four 16 x 16 images' worth of patches
    gen = generator()
    images = np.zeros(shape, dtype=np.float32)
    for call in (lambda: gen.caption(images, max_tokens=2),
                 lambda: gen.caption_perplexity(images, ["a red circle"])):  # fmt: skip
        msg = error_of(call, cls=DataError)
        assert "16" in msg and "\n" not in msg
