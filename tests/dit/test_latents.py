"""Latent DiT: the self-trained autoencoder, training and sampling through it, diffusers VAEs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tfusion.config import DiffusionConfig, TrainConfig
from tfusion.data.images import load_images
from tfusion.dit.config import DiTModelConfig, DiTRunConfig, ImageDataConfig, ImageSampleConfig
from tfusion.dit.sample import DiTRun
from tfusion.dit.train import train_dit
from tfusion.errors import ConfigError
from tfusion.latents import DiffusersVAE, load_autoencoder, train_autoencoder


def test_autoencoder_reconstructs_digits_with_unit_scale_latents():
    s = load_images("digits")
    train, test = s.split(0.2, seed=0)
    ae = train_autoencoder(train.images, latent_channels=4, factor=2, steps=400)
    x = torch.from_numpy(test.images)
    with torch.no_grad():
        z = ae.encode(x)
        rec = ae.decode(z)
    assert z.shape == (len(test), 4, 4, 4)
    assert 0.7 < float(z.std()) < 1.3  # scaled to about unit variance on the training images
    mse = float((rec - x).pow(2).mean())
    assert mse < 0.1 * float(x.var()), mse  # far better than predicting the mean image


def two_class(path, n=64, size=8, channels=1):
    rng = np.random.default_rng(0)
    labels = np.arange(n) % 2
    base = np.where(labels[:, None, None, None] == 1, 0.9, 0.1)
    images = np.clip(base + 0.05 * rng.standard_normal((n, size, size, channels)), 0, 1)
    np.savez(path, images=images.squeeze(-1) if channels == 1 else images, labels=labels)
    return path


def config(source, latent, steps=300, patch=2):
    return DiTRunConfig(
        data=ImageDataConfig(source=str(source), test_fraction=0.25),
        model=DiTModelConfig(
            preset="DiT-Mini/2",
            depth=2,
            width=32,
            heads=2,
            patch=patch,
            latent=latent,
            latent_steps=300 if latent == "train" else 1500,  # the default: a folder has its own
        ),
        diffusion=DiffusionConfig(schedule="cosine", prediction="v"),
        train=TrainConfig(
            steps=steps,
            batch_size=16,
            lr=2e-3,
            warmup=10,
            ema_decay=0.99,
            progress=False,
            checkpoint_every=steps,
        ),
        sample=ImageSampleConfig(steps=10, guidance=1.0),
    )


def test_latent_dit_keeps_the_class_condition(tmp_path):
    data = two_class(tmp_path / "two.npz")
    run = tmp_path / "run"
    train_dit(config(data, "train"), run)
    assert (run / "autoencoder.safetensors").is_file()
    assert load_autoencoder(run).shape.latent_channels == 4
    dit = DiTRun.load(run)
    assert dit.model.shape.image_size == 4 and dit.model.shape.channels == 4  # latents 4x4x4
    x = dit.generate([0] * 6 + [1] * 6, seed=0)
    assert x.shape == (12, 1, 8, 8)  # decoded back to pixels
    assert x[:6].mean() < -0.4 and x[6:].mean() > 0.4, (x[:6].mean(), x[6:].mean())


def tiny_diffusers_vae(folder, **config):
    diffusers = pytest.importorskip("diffusers")
    torch.manual_seed(0)
    vae = diffusers.AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
        up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"),
        block_out_channels=(8, 16),
        layers_per_block=1,
        latent_channels=4,
        norm_num_groups=4,
        sample_size=16,
        **config,
    )
    vae.save_pretrained(folder)
    return folder


def test_a_diffusers_vae_scales_latents_by_its_own_scaling_factor(tmp_path):
    # an SDXL-style VAE says 0.13025: the fixed 0.18215 had left its latents off scale
    for factor in (0.13025, 0.18215):
        coder = DiffusersVAE(tiny_diffusers_vae(tmp_path / f"vae{factor}", scaling_factor=factor))
        x = torch.rand(2, 3, 16, 16) * 2 - 1
        mean = coder.vae.encode(x).latent_dist.mean
        torch.testing.assert_close(coder.encode(x), mean * factor)
        z = torch.randn(1, 4, 8, 8)
        want = coder.vae.decode(z / factor).sample.clamp(-1, 1)
        torch.testing.assert_close(coder.decode(z), want)


def test_a_diffusers_vae_on_disk_is_used_for_latents(tmp_path):
    vae_dir = tiny_diffusers_vae(tmp_path / "vae")
    coder = DiffusersVAE(vae_dir)
    assert coder.factor == 2 and coder.latent_channels == 4
    data = two_class(tmp_path / "rgb.npz", n=16, size=16, channels=3)
    run = tmp_path / "run"
    train_dit(config(data, str(vae_dir), steps=3), run)
    dit = DiTRun.load(run)
    assert dit.model.shape.image_size == 8 and dit.model.shape.channels == 4
    x = dit.generate([0, 1], seed=0)
    assert x.shape == (2, 3, 16, 16) and np.isfinite(x).all()


def test_missing_vae_folder_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="not a folder"):
        DiffusersVAE(tmp_path / "nope")
