"""Latent spaces for DiT: a small convolutional autoencoder tfusion trains itself, or a diffusers
`AutoencoderKL` the user has on disk (the paper's Stable Diffusion VAE).

Both map images (B, C, H, W) in [-1, 1] to latents (B, C_lat, H / f, W / f) scaled to about unit
variance, and back. The trained one is saved as `autoencoder.safetensors` + `autoencoder.json`
in the run folder.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from tfusion.errors import CheckpointError, ConfigError


@dataclass(frozen=True)
class AutoencoderShape:
    channels: int = 1
    latent_channels: int = 4
    factor: int = 2  # spatial downsampling: 2 or 4
    width: int = 64
    scale: float = 1.0  # latents are multiplied by this (1 / their std on the training images)


def _block(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1), nn.GroupNorm(8, c_out), nn.SiLU())


class ImageAutoencoder(nn.Module):
    """Conv encoder (stride-2 stages) and mirrored decoder (nearest upsampling + conv), tanh out."""

    def __init__(self, shape: AutoencoderShape) -> None:
        super().__init__()
        if shape.factor not in (2, 4):
            raise ConfigError(f"the autoencoder downsamples by 2 or 4, got {shape.factor}")
        self.shape = shape
        w, stages = shape.width, shape.factor // 2
        enc: list[nn.Module] = [_block(shape.channels, w)]
        for _ in range(stages):
            enc += [nn.Conv2d(w, w, 4, stride=2, padding=1), nn.GroupNorm(8, w), nn.SiLU()]
        enc += [_block(w, w), nn.Conv2d(w, shape.latent_channels, 3, padding=1)]
        self.encoder = nn.Sequential(*enc)
        dec: list[nn.Module] = [_block(shape.latent_channels, w)]
        for _ in range(stages):
            dec += [nn.Upsample(scale_factor=2, mode="nearest"), _block(w, w)]
        dec += [_block(w, w), nn.Conv2d(w, shape.channels, 3, padding=1)]
        self.decoder = nn.Sequential(*dec)

    def encode(self, x: Tensor) -> Tensor:
        return self.encoder(x) * self.shape.scale

    def decode(self, z: Tensor) -> Tensor:
        return torch.tanh(self.decoder(z / self.shape.scale))

    def latent_size(self, image_size: int) -> int:
        return image_size // self.shape.factor


def train_autoencoder(
    images: np.ndarray,
    latent_channels: int = 4,
    factor: int = 2,
    steps: int = 1500,
    batch: int = 64,
    seed: int = 0,
) -> ImageAutoencoder:
    """Fit the autoencoder to images (N, C, H, W) in [-1, 1] with an MSE + L1 reconstruction
    loss and a small latent penalty (keeps the latent scale tame), then set its latent scale."""
    n, c, h, w = images.shape
    if h % factor or w % factor:
        raise ConfigError(
            f"images of {h} x {w} do not downsample by {factor}; set data.image_size to a "
            f"multiple of {factor}"
        )
    x = torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = ImageAutoencoder(AutoencoderShape(c, latent_channels, factor))
        opt = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=0.0)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
        model.train()
        for _ in range(steps):
            xb = x[torch.randint(n, (batch,))]
            z = model.encoder(xb)
            rec = torch.tanh(model.decoder(z))
            loss = F.mse_loss(rec, xb) + 0.5 * F.l1_loss(rec, xb) + 1e-4 * z.pow(2).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
        model.eval()
        with torch.no_grad():
            z = torch.cat([model.encoder(x[i : i + 500]) for i in range(0, n, 500)])
        std = float(z.std()) or 1.0
    scaled = ImageAutoencoder(AutoencoderShape(c, latent_channels, factor, scale=1.0 / std))
    scaled.load_state_dict(model.state_dict())
    return scaled.eval()


def save_autoencoder(model: ImageAutoencoder, folder: Path) -> None:
    from safetensors.torch import save_file

    from tfusion.io import atomic_path, atomic_write_text

    with atomic_path(folder / "autoencoder.safetensors") as tmp:
        save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(tmp))
    atomic_write_text(folder / "autoencoder.json", json.dumps(asdict(model.shape), indent=2))


def load_autoencoder(folder: Path) -> ImageAutoencoder:
    from safetensors.torch import load_file

    try:
        shape = AutoencoderShape(**json.loads((folder / "autoencoder.json").read_text()))
        model = ImageAutoencoder(shape)
        model.load_state_dict(load_file(str(folder / "autoencoder.safetensors")))
    except (OSError, ValueError, TypeError, RuntimeError, KeyError) as e:
        from tfusion.runs import damage

        raise CheckpointError(f"the autoencoder in {folder} {damage(e)}; retrain the run") from None
    return model.eval()


class DiffusersVAE(nn.Module):
    """A diffusers `AutoencoderKL` from a local folder (from `save_pretrained`), latents scaled
    by the folder's `scaling_factor` (0.18215 for the Stable Diffusion VAE DiT uses, and where
    the config has none); images must have 3 channels.

    Images are encoded once, before training, to the posterior mean (one encoder pass per
    image); released DiT draws a posterior sample at every step (one pass per image per
    step)."""

    SCALE = 0.18215  # the fallback

    def __init__(self, path: str | Path) -> None:
        super().__init__()
        try:
            from diffusers import AutoencoderKL
        except ImportError:
            raise ConfigError(
                "model.latent points to a diffusers VAE but diffusers is not installed; "
                "pip install diffusers"
            ) from None
        if not Path(path).is_dir():
            raise ConfigError(f"model.latent: {path} is not a folder with an AutoencoderKL")
        try:
            self.vae = AutoencoderKL.from_pretrained(str(path), local_files_only=True).eval()
        except (OSError, ValueError) as e:
            raise ConfigError(f"cannot load an AutoencoderKL from {path}: {e}") from None
        self.factor = 2 ** (len(self.vae.config.block_out_channels) - 1)
        self.latent_channels = int(self.vae.config.latent_channels)
        # SDXL's VAE says 0.13025: 0.18215 there had left latents off unit variance
        self.scale = float(getattr(self.vae.config, "scaling_factor", None) or self.SCALE)

    @torch.no_grad()
    def encode(self, x: Tensor) -> Tensor:
        return self.vae.encode(x).latent_dist.mean * self.scale

    @torch.no_grad()
    def decode(self, z: Tensor) -> Tensor:
        return self.vae.decode(z / self.scale).sample.clamp(-1, 1)

    def latent_size(self, image_size: int) -> int:
        return image_size // self.factor


def latent_coder(
    model: Any, run: Path, train: np.ndarray, resume: bool, world: Any, seed: int = 0
) -> nn.Module | None:
    """The image <-> latent map a model config asks for (`model.latent`): None (pixels), an
    autoencoder trained here on `train` (N, C, H, W) in [-1, 1] and saved in the run, or a
    diffusers AutoencoderKL loaded from a local folder. `model` is any family's model section
    with the fields latent, latent_channels, latent_factor, latent_steps; `seed` seeds the
    autoencoder's training (train.seed)."""
    kind = model.latent
    if kind == "none":
        return None
    if kind != "train":
        return DiffusersVAE(kind)
    if world.is_main and not (resume and (run / "autoencoder.json").exists()):
        ae = train_autoencoder(
            train, model.latent_channels, model.latent_factor, model.latent_steps, seed=seed
        )
        save_autoencoder(ae, run)
    world.barrier()
    return load_autoencoder(run)


@torch.no_grad()
def encode_images(coder: nn.Module, images: np.ndarray, batch: int = 256) -> np.ndarray:
    """Images (N, C, H, W) -> latents (N, C_lat, h, w), `batch` at a time."""
    x = torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32))
    return torch.cat([coder.encode(x[i : i + batch]) for i in range(0, len(x), batch)]).numpy()


def run_coder(run: Path, latent: str) -> nn.Module | None:
    """The coder a trained run uses (`model.latent` of its config)."""
    if latent == "none":
        return None
    if latent == "train":
        return load_autoencoder(run)
    return DiffusersVAE(latent)
