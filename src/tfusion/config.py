"""Frozen, typed configuration sections shared by every family, and the checks they use.

Order of precedence: dataclass defaults < YAML file < `a.b=value` overrides. An unknown key is an
error that names the key and the nearest valid one; a value of the wrong type is an error too (the
generic machinery for both lives in `tfusion.config_io` and is re-exported here). Every section
checks its values when it is built, so a typo anywhere fails before any work starts. The allowed
names (samplers, spacings, schedules, predictions, losses) are owned by `tfusion.diffusion`.

Each family's run config (its data, model and sample sections) lives in its own folder:
`tfusion.timeseries.config`, `tfusion.dit.config`, `tfusion.multimodal.config`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from tfusion.config_io import apply_overrides, dump_yaml, from_dict, read_yaml, to_dict
from tfusion.diffusion.objectives import LOSSES, PREDICTIONS
from tfusion.diffusion.samplers import SAMPLERS
from tfusion.diffusion.schedules import BETA_SCHEDULES, SPACINGS
from tfusion.errors import ConfigError

T = TypeVar("T")


def check(cond: bool, message: str) -> None:
    """Raise a one-line ConfigError with `message` unless `cond` holds."""
    if not cond:
        raise ConfigError(message)


def check_choice(key: str, value: str, allowed: Any) -> None:
    """`value` must be one of `allowed` (names as the core defines them)."""
    check(value in allowed, f"{key} must be one of {', '.join(allowed)}, got {value!r}")


def check_sampling(
    prefix: str,
    sampler: str,
    steps: int,
    batch_size: int,
    clip: float | None,
    spacing: str = "uniform",
    eta: float = 0.0,
    guidance: float = 1.0,
) -> None:
    """The checks every family's sample section shares."""
    check_choice(f"{prefix}.sampler", sampler, SAMPLERS)
    check(steps >= 1, f"{prefix}.steps must be at least 1, got {steps}")
    check(batch_size >= 1, f"{prefix}.batch_size must be at least 1, got {batch_size}")
    check(clip is None or clip > 0, f"{prefix}.clip must be positive or null, got {clip}")
    check_choice(f"{prefix}.spacing", spacing, SPACINGS)
    check(eta >= 0, f"{prefix}.eta must be 0 or more, got {eta}")
    check(guidance >= 0, f"{prefix}.guidance must be 0 or more, got {guidance}")


@dataclass(frozen=True)
class DiffusionConfig:
    """The diffusion process: schedule, number of steps and training objective."""

    schedule: str = "cosine"  # cosine | linear
    steps: int = 1000  # T
    prediction: str = "v"  # eps | v | x0
    loss: str = "mse"  # mse | l1
    fourier_weight: float = 0.0  # weight of a frequency-domain loss term (Diffusion-TS)

    def __post_init__(self) -> None:
        check_choice("diffusion.schedule", self.schedule, BETA_SCHEDULES)
        check(self.steps >= 1, f"diffusion.steps must be at least 1, got {self.steps}")
        check_choice("diffusion.prediction", self.prediction, PREDICTIONS)
        check_choice("diffusion.loss", self.loss, LOSSES)
        check(
            self.fourier_weight >= 0,
            f"diffusion.fourier_weight must be 0 or more, got {self.fourier_weight}",
        )


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation and bookkeeping."""

    steps: int = 3000
    batch_size: int = 64
    lr: float = 1e-3
    warmup: int = 100
    min_lr_ratio: float = 0.05  # cosine decays to lr * min_lr_ratio
    weight_decay: float = 0.0
    betas: tuple[float, float] = (0.9, 0.99)
    grad_clip: float = 1.0
    ema_decay: float = 0.999
    bf16: bool = False  # bf16 autocast on CPU
    seed: int = 0
    checkpoint_every: int = 500
    stop_after: int | None = None  # checkpoint and stop at this step (continue with --resume)
    log_every: int = 50
    progress: bool = True
    parallel: str = "ddp"  # under torchrun: ddp (replicate the model) | fsdp (shard it)
    # torch.compile the model's forward and backward: ~30-60 s of compilation up front, then
    # faster steps where elementwise ops dominate (`small`, bf16: 1.4x at L = 24, 1.0-1.1x at
    # L = 100-384, where the attention kernels dominate; benchmarks/speed.py --compile)
    compile: bool = False

    def __post_init__(self) -> None:
        check(self.steps >= 1, f"train.steps must be at least 1, got {self.steps}")
        check(self.batch_size >= 1, f"train.batch_size must be at least 1, got {self.batch_size}")
        check(self.lr > 0, f"train.lr must be positive, got {self.lr}")
        check(self.warmup >= 0, f"train.warmup must be 0 or more, got {self.warmup}")
        check(0 <= self.ema_decay < 1, f"train.ema_decay must be in [0, 1), got {self.ema_decay}")
        check(self.checkpoint_every >= 1, "train.checkpoint_every must be at least 1")
        check(self.log_every >= 1, "train.log_every must be at least 1")
        check(
            self.parallel in ("ddp", "fsdp"),
            f"train.parallel must be ddp or fsdp, got {self.parallel!r}",
        )


def load_config(
    path: str | Path | None,
    overrides: list[str] | tuple[str, ...],
    cls: type[T],
) -> T:
    """Defaults of `cls` < YAML file at `path` < overrides."""
    data: dict[str, Any] = {}
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"config file {p} not found; pass an existing YAML file")
        data = read_yaml(p, "pass a valid YAML config")
    return apply_overrides(from_dict(cls, data), overrides)


__all__ = [
    "DiffusionConfig",
    "TrainConfig",
    "apply_overrides",
    "check",
    "check_choice",
    "check_sampling",
    "dump_yaml",
    "from_dict",
    "load_config",
    "read_yaml",
    "to_dict",
]
