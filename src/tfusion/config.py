"""Frozen, typed configuration dataclasses that round-trip to YAML.

Order of precedence: dataclass defaults < YAML file < `a.b=value` overrides. An unknown key is an
error that names the key and the nearest valid one; a value of the wrong type is an error too (the
generic machinery for both lives in `tfusion.config_io` and is re-exported here).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tfusion.config_io import apply_overrides, dump_yaml, from_dict, read_yaml, to_dict
from tfusion.errors import ConfigError


def _check(cond: bool, message: str) -> None:
    if not cond:
        raise ConfigError(message)


SAMPLERS = ("ddpm", "ddim", "dpm++")
SPACINGS = ("uniform", "quadratic", "logsnr", "karras")  # see Schedule.timesteps


def _check_sampling(
    prefix: str,
    sampler: str,
    steps: int,
    batch_size: int,
    clip: float | None,
    spacing: str = "uniform",
) -> None:
    _check(
        sampler in SAMPLERS,
        f"{prefix}.sampler must be one of {', '.join(SAMPLERS)}, got {sampler!r}",
    )
    _check(steps >= 1, f"{prefix}.steps must be at least 1, got {steps}")
    _check(batch_size >= 1, f"{prefix}.batch_size must be at least 1, got {batch_size}")
    _check(clip is None or clip > 0, f"{prefix}.clip must be positive or null, got {clip}")
    _check(
        spacing in SPACINGS,
        f"{prefix}.spacing must be one of {', '.join(SPACINGS)}, got {spacing!r}",
    )


@dataclass(frozen=True)
class DataConfig:
    """Where the series comes from and how it becomes windows."""

    source: str = "goog"  # built-in name (goog, sine) or a path (.csv, .parquet, .npy, .npz)
    columns: tuple[str, ...] | None = None  # keep only these columns (names, or indices as text)
    missing: str = "interpolate"  # NaN policy: drop (rows) | interpolate (linear in time) | error
    missing_values: tuple[float, ...] = ()  # sentinels that mean "missing", e.g. (-200,)
    max_missing: float = 1.0  # drop columns with a larger share of missing values
    max_gap: int | None = None  # interpolate: leave out windows holding a longer filled gap
    reverse: bool = False  # reverse the series in time (TimeGAN / TransFusion protocol)
    scaler: str = "minmax"  # minmax (to [-1, 1]) | standard | none
    window: int = 24  # window length L
    stride: int = 1
    split: str = "random"  # random (over windows, seeded) | time (no overlap) | none
    test_fraction: float = 0.2
    seed: int = 2021  # the split's seed (TransFusion uses 2021)
    sine_samples: int = 10000  # built-in `sine`: number of windows
    sine_features: int = 5  # built-in `sine`: number of features
    mmap: bool = False  # memory-map a .npy series: windows read and scaled per batch, no copy
    label: str | None = None  # a column of class labels: label-conditional generation


@dataclass(frozen=True)
class ModelConfig:
    """A preset plus optional overrides of its fields (None = the preset's value)."""

    preset: str = "small"
    arch: str | None = None  # paper (post-LN, step token) | modern (pre-LN, adaLN, SDPA)
    width: int | None = None
    depth: int | None = None
    heads: int | None = None
    ff: int | None = None
    dropout: float | None = None
    class_dropout: float = 0.1  # with data.label: labels dropped in training (for guidance)


@dataclass(frozen=True)
class DiffusionConfig:
    """The diffusion process: schedule, number of steps and training objective."""

    schedule: str = "cosine"  # cosine | linear
    steps: int = 1000  # T
    prediction: str = "v"  # eps | v | x0
    loss: str = "mse"  # mse | l1
    fourier_weight: float = 0.0  # weight of a frequency-domain loss term (Diffusion-TS)


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
        _check(self.steps >= 1, f"train.steps must be at least 1, got {self.steps}")
        _check(self.batch_size >= 1, f"train.batch_size must be at least 1, got {self.batch_size}")
        _check(self.lr > 0, f"train.lr must be positive, got {self.lr}")
        _check(self.warmup >= 0, f"train.warmup must be 0 or more, got {self.warmup}")
        _check(0 <= self.ema_decay < 1, f"train.ema_decay must be in [0, 1), got {self.ema_decay}")
        _check(self.checkpoint_every >= 1, "train.checkpoint_every must be at least 1")
        _check(self.log_every >= 1, "train.log_every must be at least 1")
        _check(
            self.parallel in ("ddp", "fsdp"),
            f"train.parallel must be ddp or fsdp, got {self.parallel!r}",
        )


@dataclass(frozen=True)
class SampleConfig:
    """Default sampling settings of a run (the CLI can override them)."""

    sampler: str = "dpm++"  # ddpm | ddim | dpm++
    steps: int = 50
    # sampler noise: 0 = the probability-flow ODE, 1 = DPM-Solver++(2M) SDE (DDPM's variance).
    # Default 1: on one Stocks L = 24 model the SDE cut Context-FID 0.007 -> 0.004 and the
    # correlational score 0.004 -> 0.0006; the ODE draws window means ~5-10% too concentrated
    # (benchmarks/RESULTS.md, "ODE or SDE sampling"). Measured at 20 and 50 steps; the
    # 10-step DPM-Solver++ figures (112x DDPM-1000 at equal Context-FID) are the ODE (eta 0).
    eta: float = 1.0
    clip: float | None = 1.0  # clamp x0 predictions to [-clip, clip] (data are scaled to [-1, 1])
    batch_size: int = 500
    guidance: float = 1.0  # with data.label: classifier-free guidance scale (1 = conditional)
    # step grid: uniform | quadratic | logsnr | karras. Karras: on ETTh L = 384 DPM-Solver++ at
    # 12 steps matches DDPM-1000's Context-FID (0.42 vs 0.43; uniform grid: 0.63 at 20 steps)
    spacing: str = "karras"

    def __post_init__(self) -> None:
        _check_sampling(
            "sample", self.sampler, self.steps, self.batch_size, self.clip, self.spacing
        )


@dataclass(frozen=True)
class RunConfig:
    """Everything a time-series run needs."""

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    diffusion: DiffusionConfig = field(default_factory=DiffusionConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    sample: SampleConfig = field(default_factory=SampleConfig)


@dataclass(frozen=True)
class ImageDataConfig:
    """Where the labelled images come from and how they are shaped (see tfusion.data.images)."""

    source: str = "mnist"  # digits | mnist | a folder of class sub-folders | an .npz file
    image_size: int | None = None  # resize to this square size (None: keep the files' size)
    test_fraction: float = 0.1  # held out (stratified) for the evaluation's real images
    seed: int = 0


@dataclass(frozen=True)
class DiTModelConfig:
    """A DiT preset (DiT-S/2 ... DiT-XL/8, or CPU-sized: DiT-XS/7, DiT-T/2, DiT-T/4, DiT-Mini/2)."""

    preset: str = "DiT-XS/7"
    depth: int | None = None  # overrides of the preset
    width: int | None = None
    heads: int | None = None
    patch: int | None = None
    learn_sigma: bool = False  # 2x output channels (the released models' variance head; only
    # the mean half is trained and sampled here, the variance half loads released weights)
    class_dropout: float = 0.1  # labels replaced by the null label in training (for guidance)
    latent: str = "none"  # none (pixels) | train (an autoencoder trained first) | a folder
    # holding a diffusers AutoencoderKL (save_pretrained), e.g. the Stable Diffusion VAE
    latent_channels: int = 4  # latent: train
    latent_factor: int = 2  # latent: train; spatial downsampling 2 or 4
    latent_steps: int = 1500  # latent: train; autoencoder training steps


@dataclass(frozen=True)
class ImageSampleConfig:
    """Default sampling settings of a DiT run."""

    sampler: str = "dpm++"  # ddpm | ddim | dpm++
    steps: int = 20
    eta: float = 0.0
    clip: float | None = 1.0
    batch_size: int = 100
    guidance: float = 1.5  # classifier-free guidance scale (1 = the conditional model alone)
    spacing: str = "uniform"  # step grid: uniform | quadratic | logsnr | karras

    def __post_init__(self) -> None:
        _check_sampling(
            "sample", self.sampler, self.steps, self.batch_size, self.clip, self.spacing
        )
        _check(self.guidance >= 0, f"sample.guidance must be 0 or more, got {self.guidance}")


@dataclass(frozen=True)
class DiTRunConfig:
    """Everything a DiT run needs; `family: dit` in YAML picks it."""

    family: str = "dit"
    data: ImageDataConfig = field(default_factory=ImageDataConfig)
    model: DiTModelConfig = field(default_factory=DiTModelConfig)
    diffusion: DiffusionConfig = field(
        default_factory=lambda: DiffusionConfig(schedule="linear", prediction="eps")
    )
    train: TrainConfig = field(
        default_factory=lambda: TrainConfig(
            steps=5000, lr=1e-4, warmup=0, min_lr_ratio=1.0, ema_decay=0.9999
        )
    )
    sample: ImageSampleConfig = field(default_factory=ImageSampleConfig)


@dataclass(frozen=True)
class MultimodalDataConfig:
    """Captioned images for Transfusion: the generated `shapes` set or captioned `mnist`."""

    source: str = "shapes"  # shapes | mnist | a folder of images + captions.txt/metadata.csv
    size: int = 16  # image side: shapes 16-32, a folder is resized to it (mnist: 28 or 32)
    samples: int = 20000  # shapes: images to generate
    test_fraction: float = 0.1
    seed: int = 0
    caption_dropout: float = 0.1  # text->image sequences whose caption is dropped (for CFG)
    image_first: float = 0.5  # share of sequences laid out image -> caption (captioning)


@dataclass(frozen=True)
class MultimodalModelConfig:
    """One Llama-style transformer over text tokens and image patches."""

    width: int = 256
    depth: int = 4
    heads: int = 4
    hidden: int | None = None  # SwiGLU width; None: 8/3 x width rounded to a multiple of 8
    patch: int = 4
    encoder: str = "linear"  # linear (patch map + time embedding) | unet (U-Net down/up blocks)
    diffusion_weight: float = 5.0  # lambda: total loss = LM + lambda x diffusion
    latent: str = "none"  # none (pixels) | train (a small autoencoder trained first) | a folder
    latent_channels: int = 4  # latent: train
    latent_factor: int = 2  # latent: train; spatial downsampling 2 or 4
    latent_steps: int = 1500  # latent: train; autoencoder training steps


@dataclass(frozen=True)
class MultimodalSampleConfig:
    sampler: str = "ddpm"
    steps: int = 250  # trained on T = 1000
    guidance: float = 5.0
    temperature: float = 0.0  # 0: greedy text
    top_k: int | None = None
    top_p: float | None = None
    max_tokens: int = 64

    def __post_init__(self) -> None:
        _check_sampling("sample", self.sampler, self.steps, 1, None)
        _check(self.guidance >= 0, f"sample.guidance must be 0 or more, got {self.guidance}")


@dataclass(frozen=True)
class MultimodalRunConfig:
    """A Transfusion run; `family: multimodal` in YAML picks it. Optimiser defaults are the
    paper's (seed 002): AdamW (0.9, 0.95), lr 3e-4, 4000 warmup steps, cosine to 1.5e-5,
    weight decay 0.1, clip 1.0."""

    family: str = "multimodal"
    data: MultimodalDataConfig = field(default_factory=MultimodalDataConfig)
    model: MultimodalModelConfig = field(default_factory=MultimodalModelConfig)
    diffusion: DiffusionConfig = field(
        default_factory=lambda: DiffusionConfig(schedule="cosine", prediction="eps")
    )
    train: TrainConfig = field(
        default_factory=lambda: TrainConfig(
            steps=250000,
            batch_size=64,
            lr=3e-4,
            warmup=4000,
            min_lr_ratio=0.05,
            weight_decay=0.1,
            betas=(0.9, 0.95),
            grad_clip=1.0,
            ema_decay=0.999,
        )
    )
    sample: MultimodalSampleConfig = field(default_factory=MultimodalSampleConfig)


def load_config(
    path: str | Path | None = None,
    overrides: list[str] | tuple[str, ...] = (),
    cls: type = RunConfig,
) -> Any:
    """Defaults < YAML file at `path` < overrides."""
    data: dict[str, Any] = {}
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"config file {p} not found; pass an existing YAML file")
        data = read_yaml(p, "pass a valid YAML config")
    return apply_overrides(from_dict(cls, data), overrides)


def family_of(path: str | Path | None) -> str:
    """The model family a YAML config or a run folder's config.yaml names (default timeseries)."""
    if path is None:
        return "timeseries"
    p = Path(path)
    if p.is_dir():
        p = p / "config.yaml"
    if not p.is_file():
        return "timeseries"  # the caller's own loader reports the missing file
    try:
        data = read_yaml(p, "")
    except ConfigError:
        return "timeseries"  # the family's own loader reports the broken file
    family = data.get("family", "timeseries")
    if family not in FAMILIES:
        raise ConfigError(f"unknown family {family!r} in {p}; choose one of {', '.join(FAMILIES)}")
    return str(family)


FAMILIES = ("timeseries", "dit", "multimodal")


__all__ = [
    "DataConfig",
    "DiffusionConfig",
    "ModelConfig",
    "RunConfig",
    "SampleConfig",
    "TrainConfig",
    "apply_overrides",
    "dump_yaml",
    "family_of",
    "from_dict",
    "load_config",
    "read_yaml",
    "to_dict",
]
