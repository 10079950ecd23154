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

import difflib
import math
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any, TypeVar

from tfusion.config_io import apply_overrides, dump_yaml, from_dict, read_yaml, to_dict
from tfusion.diffusion.objectives import LOSSES, PREDICTIONS
from tfusion.diffusion.samplers import SAMPLERS
from tfusion.diffusion.schedules import BETA_SCHEDULES, SPACINGS
from tfusion.errors import ConfigError

MAX_SEED = 2**62  # seeds: rows add their index, torch takes < 2^64

T = TypeVar("T")

PARALLEL = ("ddp", "fsdp")  # under torchrun: replicate the model, or shard it
LATENTS = ("none", "train")  # an image model's space: pixels | an autoencoder trained first
LATENT_FACTORS = (2, 4)  # the trained autoencoder's spatial downsampling


def check(cond: bool, message: str) -> None:
    """Raise a one-line ConfigError with `message` unless `cond` holds."""
    if not cond:
        raise ConfigError(message)


def _near(value: str, names: Any, cutoff: float = 0.6) -> str:
    """`; did you mean 'x'?` for the name of `names` closest to `value`, or ''."""
    near = difflib.get_close_matches(str(value), [str(n) for n in names], n=1, cutoff=cutoff)
    return f"; did you mean {near[0]!r}?" if near else ""


def check_choice(key: str, value: Any, allowed: Any) -> None:
    """`value` must be one of `allowed` (names as their owner defines them); near misses named."""
    if value not in allowed:
        near = _near(value, allowed) if isinstance(value, str) else ""
        names = ", ".join(str(a) for a in allowed)
        raise ConfigError(f"{key} must be one of {names}, got {value!r}{near}")


def check_at_least(key: str, value: float | None, low: float, optional: bool = False) -> None:
    """`value` >= `low` (or None where `optional`)."""
    if value is None and optional:
        return
    tail = " or null" if optional else ""
    check(value is not None and value >= low, f"{key} must be at least {low}{tail}, got {value}")


def check_share(key: str, value: float, closed: bool = True) -> None:
    """`value` in [0, 1] (`closed`) or [0, 1)."""
    ok = 0 <= value <= 1 if closed else 0 <= value < 1
    check(ok, f"{key} must be in [0, 1{']' if closed else ')'}, got {value}")


def check_name_or_path(key: str, value: str, names: Any, what: str) -> None:
    """`value` is one of `names` or a path (whose existence is checked where it is used). A
    bare word that is no existing path but close to one of `names` is taken for a typo."""
    check(bool(value.strip()), f"{key} must not be empty; use one of {', '.join(names)} or {what}")
    if value in names or any(c in value for c in "/\\.") or Path(value).exists():
        return
    hint = _near(value, names, cutoff=0.75)
    check(not hint, f"{key} must be one of {', '.join(names)} (or {what}), got {value!r}{hint}")


def check_latent(model: Any) -> None:
    """The latent space fields of an image model section (DiT's, Transfusion's): `latent` is
    none (pixels), train (an autoencoder trained first) or a folder holding a diffusers
    AutoencoderKL (`tfusion.latents` loads it and says when it is not one)."""
    check_name_or_path(
        "model.latent", model.latent, LATENTS, "a folder holding a diffusers AutoencoderKL"
    )
    check_at_least("model.latent_channels", model.latent_channels, 1)
    check_choice("model.latent_factor", model.latent_factor, LATENT_FACTORS)
    check_at_least("model.latent_steps", model.latent_steps, 1)
    if model.latent != "train":
        # the three fields shape an autoencoder tfusion trains; with pixels or a given folder
        # (whose own config fixes channels and factor) a changed value would be ignored
        defaults = {f.name: f.default for f in fields(model)}
        for name in ("latent_channels", "latent_factor", "latent_steps"):
            check(
                getattr(model, name) == defaults[name],
                f"model.{name} only applies with model.latent: train (this run has latent: "
                f"{model.latent}); drop it, or set model.latent=train",
            )


def check_sampling(section: Any, prefix: str = "sample") -> None:
    """The checks every family's sample section shares. The section is read by name; a field
    it lacks (a multimodal section has no batch_size, clip, spacing or eta) is not checked."""

    def has(name: str) -> bool:
        return hasattr(section, name)

    check_choice(f"{prefix}.sampler", section.sampler, SAMPLERS)
    check_at_least(f"{prefix}.steps", section.steps, 1)
    if has("batch_size"):
        check_at_least(f"{prefix}.batch_size", section.batch_size, 1)
    clip = getattr(section, "clip", None)
    check(
        clip is None or clip == "auto" or (not isinstance(clip, str) and clip > 0),
        # only the time-series section takes text (auto): other sections refuse it when read
        f"{prefix}.clip must be a positive number{', auto' if isinstance(clip, str) else ''} "
        f"or null, got {clip!r}",
    )
    if has("spacing"):
        check_choice(f"{prefix}.spacing", section.spacing, SPACINGS)
    for name in ("eta", "guidance"):
        value = getattr(section, name, 0.0)
        check(value >= 0, f"{prefix}.{name} must be 0 or more, got {value}")


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
        check_at_least("diffusion.steps", self.steps, 1)
        check(self.steps <= 100_000, f"diffusion.steps must be at most 100000, got {self.steps}")
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
    # passes over the training examples (windows, images, pairs); when set, train.steps is
    # replaced by epochs x ceil(examples / global batch) once the data is known, as a loop
    # over a DataLoader without drop_last counts them (TransFusion's train.py), and the
    # resolved steps are what the run's config.yaml records
    epochs: int | None = None
    batch_size: int = 64
    # micro-batches per step: each step's batch is cut into this many equal parts, one forward
    # and backward each, their gradients summed before the one optimiser step; the same step
    # (up to float summation order) at about 1/accumulate of the activation memory, for a
    # batch that does not fit (the published TransFusion recipe at L = 384: batch 256 needs
    # ~47 GB in fp32). auto: start whole and, when a step runs out of device memory, redo it
    # in twice the micro-batches (or more), as often as needed (one process; the count found
    # is printed and recorded in training.json)
    accumulate: int | str = 1
    lr: float = 1e-3
    warmup: int = 100  # linear warm-up steps (0: none)
    min_lr_ratio: float = 0.05  # cosine decays to lr * min_lr_ratio (1: a constant lr)
    weight_decay: float = 0.0  # decoupled (AdamW); 0 is plain Adam
    betas: tuple[float, float] = (0.9, 0.99)
    grad_clip: float = 1.0  # the gradient's global norm is clipped to this; 0: no clipping
    ema_decay: float = 0.999  # 0: no averaging, the EMA weights are the raw weights
    # the decay warms up as min(ema_decay, (1 + n) / (10 + n)); false: ema_decay from the first
    # step (DiT's released training: the average starts at the initial weights)
    ema_warmup: bool = True
    # bf16 autocast: auto = where the device computes bf16 natively (CUDA with compute
    # capability >= 8, CPUs with AVX512-BF16 / AMX; fp16 + gradient scaling on older GPUs);
    # true / false force it on / off (tfusion.devices has the table)
    bf16: bool | str = "auto"
    device: str = "auto"  # auto (CUDA, else MPS, else CPU) | cpu | cuda | cuda:N | mps
    seed: int = 0
    checkpoint_every: int = 500
    stop_after: int | None = None  # checkpoint and stop at this step (continue with --resume)
    # a wall-clock budget: checkpoint and stop once this many seconds of training have passed;
    # after the warm-up the cosine decay follows whichever runs out first, train.steps or the
    # seconds, so a budget ends at the low learning rate (timing-dependent: not bit-exact)
    max_seconds: float | None = None
    # what train.max_seconds counts: wall (seconds on the clock) | process (this process's CPU
    # seconds, all threads: on a shared machine a run is charged only for the compute it got,
    # so budgeted runs side by side, or paused, stay comparable; with one thread, CPU seconds)
    clock: str = "wall"
    log_every: int = 50
    progress: bool = True
    parallel: str = "ddp"  # under torchrun: ddp (replicate the model) | fsdp (shard it)
    # torch.compile the model's forward and backward: ~30-60 s of compilation up front, then
    # faster steps where elementwise ops dominate (`small`, bf16: 1.4x at L = 24, 1.0-1.1x at
    # L = 100-384, where the attention kernels dominate; benchmarks/speed.py --compile)
    compile: bool = False

    def __post_init__(self) -> None:
        check_at_least("train.steps", self.steps, 1)
        check_at_least("train.epochs", self.epochs, 1, optional=True)
        check(
            isinstance(self.bf16, bool) or self.bf16 == "auto",
            f"train.bf16 must be auto, true or false, got {self.bf16!r}",
        )
        check(
            self.device in ("auto", "cpu", "cuda", "mps")
            or (self.device.startswith("cuda:") and self.device[5:].isdigit()),
            f"train.device must be auto, cpu, cuda, cuda:N or mps, got {self.device!r}",
        )
        check_at_least("train.batch_size", self.batch_size, 1)
        if self.accumulate != "auto":
            check(
                isinstance(self.accumulate, int)
                and not isinstance(self.accumulate, bool)
                and self.accumulate >= 1,
                f"train.accumulate must be a whole number >= 1 or auto, got {self.accumulate!r}",
            )
        check(
            self.max_seconds is None or self.max_seconds > 0,
            f"train.max_seconds must be positive, got {self.max_seconds}; or unset it",
        )
        check_choice("train.clock", self.clock, ("wall", "process"))
        check(self.lr > 0, f"train.lr must be positive, got {self.lr}")
        check_at_least("train.warmup", self.warmup, 0)
        check_share("train.min_lr_ratio", self.min_lr_ratio)
        check_at_least("train.weight_decay", self.weight_decay, 0)
        check(
            all(0 <= b < 1 for b in self.betas),
            f"train.betas must be two numbers in [0, 1), got {list(self.betas)}",
        )
        check(self.grad_clip >= 0, f"train.grad_clip must be 0 (off) or more, got {self.grad_clip}")
        check_share("train.ema_decay", self.ema_decay, closed=False)
        check_at_least("train.seed", self.seed, 0)
        check(self.seed <= MAX_SEED, f"train.seed must be at most 2^62, got {self.seed}")
        check_at_least("train.checkpoint_every", self.checkpoint_every, 1)
        check_at_least("train.stop_after", self.stop_after, 1, optional=True)
        check_at_least("train.log_every", self.log_every, 1)
        check_choice("train.parallel", self.parallel, PARALLEL)

    @property
    def micro_batch(self) -> int:
        """The examples of one micro-batch, batch_size / accumulate (auto: the whole batch to
        start with); a ConfigError unless the batch divides (checked on the finished config:
        overrides apply one at a time)."""
        if self.accumulate == "auto":
            return self.batch_size
        assert isinstance(self.accumulate, int)
        check(
            self.batch_size % self.accumulate == 0,
            f"train.batch_size ({self.batch_size}) must be a multiple of train.accumulate "
            f"({self.accumulate}): each step's batch is cut into equal micro-batches",
        )
        return self.batch_size // self.accumulate

    def for_examples(self, examples: int, world_size: int = 1) -> TrainConfig:
        """This config with train.steps resolved from train.epochs over `examples` training
        examples drawn in global batches of batch_size x world_size (unchanged when epochs
        is unset): every epoch counts its last, partial batch as a step. Checks that the
        batch splits into train.accumulate micro-batches."""
        _ = self.micro_batch
        if self.epochs is None:
            return self
        per_epoch = math.ceil(examples / (self.batch_size * world_size))
        check(per_epoch >= 1, f"train.epochs needs training examples, got {examples}")
        return replace(self, steps=self.epochs * per_epoch)


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
    "check_at_least",
    "check_choice",
    "check_latent",
    "check_name_or_path",
    "check_sampling",
    "check_share",
    "dump_yaml",
    "from_dict",
    "load_config",
    "read_yaml",
    "to_dict",
]
