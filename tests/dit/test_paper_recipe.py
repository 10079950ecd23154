"""configs/dit-paper.yaml: the published DiT recipe value by value, and horizontal flips."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

import tfusion.dit.train as dit_train
from tfusion.config import apply_overrides, load_config
from tfusion.dit.config import DiTRunConfig
from tfusion.dit.train import train_dit

ROOT = Path(__file__).parents[2]


def paper() -> DiTRunConfig:
    return load_config(ROOT / "configs" / "dit-paper.yaml", (), DiTRunConfig)


def test_every_published_value():
    cfg = paper()
    t, d, m, s = cfg.train, cfg.diffusion, cfg.model, cfg.sample
    assert (t.lr, tuple(t.betas), t.weight_decay) == (1e-4, (0.9, 0.999), 0.0)  # AdamW
    assert (t.warmup, t.min_lr_ratio, t.grad_clip) == (0, 1.0, 0.0)  # constant, unclipped
    assert (t.batch_size, t.epochs, t.ema_decay, t.ema_warmup) == (256, 1400, 0.9999, False)
    assert t.bf16 is False
    assert (d.schedule, d.steps, d.prediction, d.loss) == ("linear", 1000, "eps", "mse")
    assert (m.preset, m.learn_sigma, m.vlb_weight, m.class_dropout) == ("DiT-XL/2", True, 1.0, 0.1)
    assert cfg.data.flip is True
    assert (s.sampler, s.steps, s.guidance, s.clip) == ("ddpm", 250, 4.0, None)


def test_flips_mirror_about_half_the_drawn_images(tmp_path, monkeypatch):
    """data.flip: the images the loss sees are the originals or their left-right mirrors,
    about half each; without it, never a mirror."""
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 1, (16, 8, 8)).astype(np.float32)  # no image is its own mirror
    np.savez(tmp_path / "x.npz", images=images, labels=np.arange(16) % 2)
    seen: list[torch.Tensor] = []
    real = dit_train.diffusion_loss

    def spy(model, x0, *args, **kwargs):
        seen.append(x0.detach().cpu())
        return real(model, x0, *args, **kwargs)

    monkeypatch.setattr(dit_train, "diffusion_loss", spy)
    base = [
        f"data.source={tmp_path / 'x.npz'}",
        "data.test_fraction=0",
        "data.image_size=8",
        "model.preset=DiT-Mini/2",
        "model.depth=1",
        "model.heads=2",
        "model.width=16",
        "model.patch=4",
        "train.epochs=null",
        "train.steps=6",
        "train.batch_size=32",
        "train.progress=false",
        "train.device=cpu",
    ]
    originals = torch.from_numpy(images * 2 - 1).unsqueeze(1)
    counts = {}
    for flip in (True, False):
        seen.clear()
        cfg = apply_overrides(paper(), [*base, f"data.flip={str(flip).lower()}"])
        train_dit(cfg, tmp_path / f"flip{flip}")
        batch = torch.cat(seen)
        same = (batch[:, None] - originals[None]).flatten(2).abs().amax(2).min(1).values < 1e-5
        mirror = (batch[:, None] - originals.flip(-1)[None]).flatten(2).abs().amax(2)
        mirrored = mirror.min(1).values < 1e-5
        assert bool((same ^ mirrored).all())  # every image is one or the other
        counts[flip] = float(mirrored.float().mean())
    assert 0.35 < counts[True] < 0.65 and counts[False] == 0.0


def test_the_shapes_text_config_is_the_benchmark_arm():
    """configs/dit-shapes-text.yaml and benchmarks/shapes_text.py's DiT arm are one recipe."""
    import sys

    sys.path.insert(0, str(ROOT / "benchmarks"))
    import shapes_text

    cfg = load_config(ROOT / "configs" / "dit-shapes-text.yaml", (), DiTRunConfig)
    arm = shapes_text.dit_config(1.0, 144)
    assert cfg.model == arm.model and cfg.diffusion == arm.diffusion
    assert (cfg.data.source, cfg.data.samples, cfg.data.image_size) == ("shapes", 20000, 16)
    for key in ("batch_size", "lr", "warmup", "min_lr_ratio", "weight_decay", "ema_decay"):
        assert getattr(cfg.train, key) == getattr(arm.train, key), key
    assert tuple(cfg.train.betas) == tuple(arm.train.betas)
