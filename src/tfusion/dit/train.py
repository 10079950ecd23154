"""Train a class-conditional DiT on labelled images: data -> run folder.

The run folder has the time-series layout (config.yaml, data_state.json, model.safetensors,
ema.safetensors, train_state.pt, metrics.jsonl, loss.png); config.yaml carries `family: dit`.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from tfusion import __version__, runs
from tfusion.config import dump_yaml
from tfusion.data.captions import load_captioned
from tfusion.data.images import ImageSet, load_images
from tfusion.data.text import encode_captions
from tfusion.devices import device_of, to_device
from tfusion.diffusion import Objective, Schedule, diffusion_loss
from tfusion.dit.config import DiTModelConfig, DiTRunConfig
from tfusion.dit.model import DiT, DiTShape
from tfusion.errors import ConfigError
from tfusion.io import atomic_write_text
from tfusion.latents import encode_images, latent_coder
from tfusion.runs import check_run_folder, check_same_sections
from tfusion.text_encoders import ClipText
from tfusion.training.distributed import World, current_world
from tfusion.training.loop import FitResult, fit
from tfusion.training.plots import plot_loss_curve


def dit_shape(
    model: DiTModelConfig,
    image_size: int,
    channels: int,
    classes: int,
    text_dim: int = 0,
    num_timesteps: int = 1000,
) -> DiTShape:
    """The DiTShape of a model config for images of `image_size` x `channels` and `classes`
    (`text_dim`: the pooled width of an external text encoder, model.text_encoder=FOLDER);
    `num_timesteps` is the run's diffusion.steps T, so the time embedding sees the integer
    step n = t T - 1 as the released DiT does for any T."""
    base = DiTShape.preset(
        model.preset,
        image_size=image_size,
        channels=channels,
        num_classes=classes,
        learn_sigma=model.learn_sigma,
        condition=model.condition,
        text_width=model.text_width,
        text_depth=model.text_depth,
        text_heads=model.text_heads,
        text_dim=text_dim,
        cross_attention=model.cross_attention,
        num_timesteps=num_timesteps,
    )
    overrides = {
        k: getattr(model, k)
        for k in ("depth", "width", "heads", "patch")
        if getattr(model, k) is not None
    }
    shape = replace(base, **overrides)
    if image_size % shape.patch:
        raise ConfigError(
            f"images of {image_size} x {image_size} do not split into {shape.patch} x "
            f"{shape.patch} patches; set data.image_size to a multiple of {shape.patch} or "
            "choose another model.patch"
        )
    if shape.width % shape.heads or shape.width % 4:
        raise ConfigError(
            f"model.width {shape.width} must be divisible by model.heads {shape.heads} and by 4"
        )
    return shape


def image_split(cfg: DiTRunConfig) -> tuple[ImageSet, ImageSet]:
    """The training and held-out images of a run config (model.condition text: captioned
    images, one pseudo-class, so the split is a seeded random one)."""
    d = cfg.data
    if not 0.0 <= d.test_fraction < 1.0:
        raise ConfigError(f"data.test_fraction must be in [0, 1), got {d.test_fraction}")
    if cfg.model.condition == "text":
        # the Transfusion family's split of the same pairs (a seeded permutation, the last
        # share held out), so both families are scored on the same held-out captions
        default = {"shapes": 16, "mnist": 28}.get(d.source, 32)
        pixels, captions = load_captioned(d.source, d.image_size or default, d.samples, d.seed)
        full = ImageSet(pixels, np.zeros(len(pixels), np.int64), ("captioned",), tuple(captions))
        order = np.random.default_rng(d.seed).permutation(len(pixels))
        cut = len(pixels) - round(len(pixels) * d.test_fraction)
        return full.subset(order[:cut]), full.subset(order[cut:])
    images = load_images(d.source, d.image_size)
    return images.split(d.test_fraction, d.seed)


def train_dit(cfg: DiTRunConfig, run: str | Path, resume: bool = False) -> FitResult:
    """Train on cfg.data and write the run folder `run`."""
    run = Path(run)
    world = current_world()
    check_run_folder(run, resume)
    world.barrier()  # every rank has looked at the folder before rank 0 writes into it
    if resume:
        check_same_sections(saved_dit_config(run), cfg)
    train, _ = image_split(cfg)
    cfg = replace(cfg, train=cfg.train.for_examples(len(train), world.size))  # epochs
    coder = latent_coder(cfg.model, run, train.images, resume, world, cfg.train.seed)
    pixels = train.images
    # data.flip: each drawn image is mirrored left-right with probability 1/2; latent runs
    # encode the mirrored images too (a flipped latent is not the latent of the flipped image)
    mirrored = np.ascontiguousarray(pixels[..., ::-1]) if cfg.data.flip else None
    if coder is not None:
        pixels = encode_images(coder, pixels)
        if mirrored is not None:
            mirrored = encode_images(coder, mirrored)
    size, channels = pixels.shape[2], pixels.shape[1]
    text = cfg.model.condition == "text"
    encoder = text_encoder(cfg.model) if text else None
    text_dim = encoder.dim if encoder is not None else 0
    steps = cfg.diffusion.steps  # a resumed run keeps the T its time embedding was built for
    if resume:
        steps = runs.read_data_state(run, lambda s: int(s.get("time_embedding_steps", 1000)))
    shape = dit_shape(cfg.model, size, channels, 0 if text else len(train.classes), text_dim, steps)
    torch.manual_seed(cfg.train.seed)
    model = DiT(shape)
    d = cfg.diffusion
    schedule = Schedule.create(d.schedule, d.steps)
    objective = Objective(d.prediction, d.loss, d.fourier_weight)
    state = {
        "condition": cfg.model.condition,
        "text_dim": text_dim,
        "classes": [] if text else list(train.classes),
        "image_size": train.size,
        "channels": train.channels,
        "model_size": int(size),
        "model_channels": int(channels),
        "train_images": len(train),
        # the T the time embedding counts steps in (runs without it embedded as if T = 1000)
        "time_embedding_steps": steps,
    }
    if not resume and world.is_main:
        atomic_write_text(run / "config.yaml", dump_yaml(cfg))
        atomic_write_text(run / "data_state.json", json.dumps(state, indent=2))
    images = torch.from_numpy(np.ascontiguousarray(pixels, dtype=np.float32))
    flipped = None
    if mirrored is not None:
        flipped = torch.from_numpy(np.ascontiguousarray(mirrored, dtype=np.float32))
    if encoder is not None:  # a frozen encoder's pooled embeddings, once; dropped: NaN rows
        labels = torch.from_numpy(encoder.encode(list(train.captions or ())))
    elif text:  # caption tokens (N, max_caption), padded; a dropped caption is all padding
        labels = torch.from_numpy(encode_captions(train.captions or (), cfg.model.max_caption))
    else:
        labels = torch.from_numpy(train.labels)
    bs = cfg.train.batch_size

    def loss_fn(m: nn.Module, gen: torch.Generator, world: World) -> Tensor:
        idx = world.shard(torch.randint(len(images), (bs * world.size,), generator=gen))
        x0 = images[idx]
        if flipped is not None:  # one draw per image of the global batch, after the indices
            flip = world.shard(torch.rand(bs * world.size, generator=gen) < 0.5)
            x0 = torch.where(flip.view(-1, 1, 1, 1), flipped[idx], x0)
        # labels become the null label with probability class_dropout (the unconditional model
        # that guidance needs), drawn after t and noise; a learned variance adds the bound term
        return diffusion_loss(
            m,
            to_device(x0, device_of(m)),
            schedule,
            objective,
            gen,
            world,
            labels[idx],
            cond_dropout=cfg.model.class_dropout,
            null_cond=model.null_label,
            vlb_weight=cfg.model.vlb_weight if cfg.model.learn_sigma else 0.0,
        )

    meta = {"family": "dit", "tfusion": __version__, **{k: str(v) for k, v in state.items()}}
    result = fit(model, loss_fn, cfg.train, run, meta, resume=resume)
    if world.is_main:
        plot_loss_curve(run / "metrics.jsonl", run / "loss.png")
    return result


def text_encoder(model: DiTModelConfig) -> ClipText | None:
    """The frozen text encoder of model.text_encoder=FOLDER (None: tfusion's own, trained)."""
    return None if model.text_encoder == "train" else ClipText(model.text_encoder)


def saved_dit_config(run: str | Path) -> DiTRunConfig:
    """The DiTRunConfig a run folder was trained with."""
    return runs.saved_config(run, DiTRunConfig, "dit")
