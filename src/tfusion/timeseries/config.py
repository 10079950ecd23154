"""The configuration of a time-series (TransFusion) run."""

from __future__ import annotations

from dataclasses import dataclass, field

from tfusion.config import DiffusionConfig, TrainConfig, check_sampling


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
        check_sampling("sample", self.sampler, self.steps, self.batch_size, self.clip, self.spacing)


@dataclass(frozen=True)
class RunConfig:
    """Everything a time-series run needs."""

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    diffusion: DiffusionConfig = field(default_factory=DiffusionConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    sample: SampleConfig = field(default_factory=SampleConfig)
