"""Generate class-conditional images from a trained DiT run, with classifier-free guidance."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tfusion import runs
from tfusion.data.text import encode_captions
from tfusion.devices import device_of, load_device, sampling_autocast
from tfusion.diffusion import SampleSettings, Schedule, row_generators, sample_loop
from tfusion.dit.config import DiTRunConfig
from tfusion.dit.model import DiT
from tfusion.dit.train import dit_shape, saved_dit_config, text_encoder
from tfusion.errors import ConfigError
from tfusion.latents import run_coder
from tfusion.text_encoders import ClipText
from tfusion.training.checkpoint import load_weights


@dataclass
class DiTRun:
    """A trained DiT run, ready to sample: config, network (eval mode), schedule, class names."""

    path: Path
    cfg: DiTRunConfig
    model: DiT
    schedule: Schedule
    classes: tuple[str, ...]
    coder: torch.nn.Module | None = None  # latent runs: latents <-> images
    encoder: ClipText | None = None  # model.text_encoder=FOLDER, loaded at the first captions

    @classmethod
    def load(
        cls, run: str | Path, ema: bool = True, device: str | torch.device | None = None
    ) -> DiTRun:
        """Load a run folder; `ema` picks the EMA weights (default) or the raw ones; the model
        (and a latent run's autoencoder) go to `device` (default the CPU)."""
        path = runs.open_run(run)
        cfg = saved_dit_config(path)
        classes, size, channels, text_dim, steps = runs.read_data_state(
            path,
            lambda s: (
                tuple(s["classes"]),
                int(s.get("model_size", s["image_size"])),
                int(s.get("model_channels", s["channels"])),
                int(s.get("text_dim", 0)),
                int(s.get("time_embedding_steps", 1000)),  # older runs: always 1000
            ),
        )
        model = DiT(dit_shape(cfg.model, size, channels, len(classes), text_dim, steps))
        load_weights(model, runs.weights_path(path, ema))
        dev = load_device(device)
        model.eval().to(dev)
        schedule = Schedule.create(cfg.diffusion.schedule, cfg.diffusion.steps)
        coder = run_coder(path, cfg.model.latent)
        if coder is not None:
            coder.to(dev)
        return cls(path, cfg, model, schedule, classes, coder)

    def settings(self, **changes: Any) -> SampleSettings:
        """The run's sample settings with per-call changes (None keeps the run's value)."""
        return SampleSettings.from_section(self.cfg.sample).override(**changes)

    @property
    def text(self) -> bool:
        """Whether the run is conditioned on captions (model.condition: text)."""
        return self.cfg.model.condition == "text"

    def generate(
        self,
        labels: np.ndarray | list[int] | list[str],
        guidance: float | None = None,
        sampler: str | None = None,
        steps: int | None = None,
        seed: int = 0,
        eta: float | None = None,
        batch_size: int | None = None,
        bf16: bool = False,
        progress: bool = False,
        spacing: str | None = None,
    ) -> np.ndarray:
        """One image per label (a text-conditioned run: per caption; "" draws unconditionally):
        (n, C, H, W) float32 in [-1, 1] (latent runs: decoded). Image i draws all its noise from
        Generator(seed + i), so it does not depend on `batch_size` or on the other labels.

        `spacing` overrides the run's sample.spacing (the step grid, see Schedule.timesteps)."""
        sc = self.cfg.sample
        if self.text:
            if isinstance(labels, str) or not all(isinstance(c, str) for c in labels):
                raise ConfigError("this run is conditioned on text: give a list of captions")
            if self.cfg.model.text_encoder != "train":  # a frozen encoder: pooled embeddings
                if self.encoder is None:
                    self.encoder = text_encoder(self.cfg.model)
                labels = self.encoder.encode(list(labels))
            else:
                labels = encode_captions(list(labels), self.cfg.model.max_caption)
            if len(labels) < 1:
                raise ConfigError("give at least one caption to generate")
        else:
            if any(isinstance(c, str) for c in labels):
                raise ConfigError(
                    "this run is class-conditional: give class labels (integers), not captions"
                )
            labels = np.asarray(labels, dtype=np.int64)
            if labels.ndim != 1 or len(labels) < 1:
                raise ConfigError("give at least one class label to generate")
            bad = labels[(labels < 0) | (labels >= len(self.classes))]
            if len(bad):
                raise ConfigError(
                    f"class label {int(bad[0])} is out of range; this run has "
                    f"{len(self.classes)} classes (0..{len(self.classes) - 1}: "
                    f"{', '.join(self.classes[:10])})"
                )
        settings = self.settings(
            sampler=sampler, steps=steps, eta=eta, spacing=spacing, guidance=guidance
        )
        if self.coder is not None:  # latents are not in [-1, 1]
            settings = replace(settings, clip=None)
        scale = float(settings.guidance)
        if scale != 1.0 and self.cfg.model.class_dropout == 0:
            raise ConfigError(
                f"guidance {scale:g} needs the unconditional model, but this run trained with "
                "model.class_dropout=0 (its null label never learned): sample with "
                "--guidance 1, or train with model.class_dropout > 0 (DiT: 0.1)"
            )
        bs = batch_size or sc.batch_size
        shape = self.model.shape
        device = device_of(self.model)
        autocast = sampling_autocast(bf16, device)
        out = []
        for start in range(0, len(labels), bs):
            y = torch.from_numpy(labels[start : start + bs])
            guided = self.model.guided(y, scale)

            def denoise(x: torch.Tensor, t: torch.Tensor, guided=guided) -> torch.Tensor:
                with torch.no_grad(), autocast:
                    return guided(x, t)

            size = (len(y), shape.channels, shape.image_size, shape.image_size)
            x = sample_loop(
                denoise,
                size,
                self.schedule,
                self.cfg.diffusion.prediction,
                settings,
                # image i draws from its own stream (seed + i): the same image at any batch size
                generator=row_generators(range(seed + start, seed + start + len(y))),
                progress=progress,
                device=device,
            )
            if self.coder is not None:
                with torch.no_grad():
                    x = self.coder.decode(x.float())
            out.append(x.float().clamp(-1, 1).cpu().numpy())
        return np.concatenate(out)
