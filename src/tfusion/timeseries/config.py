"""The configuration of a time-series (TransFusion) run."""

from __future__ import annotations

from dataclasses import dataclass, field

from tfusion.config import (
    DiffusionConfig,
    TrainConfig,
    check,
    check_at_least,
    check_choice,
    check_name_or_path,
    check_sampling,
    check_share,
)
from tfusion.data.builtin import BUILTIN
from tfusion.data.missing import MISSING_POLICIES
from tfusion.data.scalers import KINDS
from tfusion.timeseries.presets import ARCHS, TIMESERIES_PRESETS

# NaN policies of a run's data: the table loader's, less `keep` (NaN stays: series to impute)
MISSING = tuple(p for p in MISSING_POLICIES if p != "keep")
# random over windows (seeded) | time (no overlap) | entity (whole entities held out) | none
SPLITS = ("random", "time", "entity", "none")


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
    # minmax (to [-1, 1]) | standard | none | unit (values in [0, 1] as given: 2x - 1)
    scaler: str = "minmax"
    window: int = 24  # window length L
    stride: int = 1
    split: str = "random"  # random (over windows, seeded) | time (no overlap) | entity | none
    test_fraction: float = 0.2
    seed: int = 2021  # the split's seed (TransFusion uses 2021)
    sine_samples: int = 10000  # built-in `sine`: number of windows
    sine_features: int = 5  # built-in `sine`: number of features
    mmap: bool = False  # memory-map a .npy series: windows read and scaled per batch, no copy
    label: str | None = None  # a column of class labels: label-conditional generation
    entity: str | None = None  # long format: a column naming the sequence each row belongs to
    time: str | None = None  # a column of times (dates or numbers) to sort each sequence by
    static: tuple[str, ...] = ()  # per-entity attribute columns (constant within an entity)
    categorical: tuple[str, ...] = ()  # category columns: channels, or attributes if in static
    # train on whole sequences (padded to the longest, masked) and learn their lengths, instead
    # of windows of data.window steps
    whole: bool = False

    def __post_init__(self) -> None:
        check_name_or_path("data.source", self.source, BUILTIN, "a path to a data file")
        check(
            self.columns is None or len(self.columns) > 0,
            "data.columns must name at least one column, or be null (every column)",
        )
        check_choice("data.missing", self.missing, MISSING)
        check_share("data.max_missing", self.max_missing)
        if self.max_gap is not None:
            check(
                self.max_gap >= 0 and self.missing == "interpolate",
                f"data.max_gap={self.max_gap} needs data.missing=interpolate and a gap length "
                ">= 0 (0: leave out every window with a filled value); or unset it",
            )
        check_choice("data.scaler", self.scaler, KINDS)
        check_at_least("data.window", self.window, 1)
        check_at_least("data.stride", self.stride, 1)
        check_choice("data.split", self.split, SPLITS)
        if self.split != "none":
            check(
                0 < self.test_fraction < 1,
                f"data.test_fraction must be between 0 and 1 (exclusive), got "
                f"{self.test_fraction}; or set data.split=none to train on everything",
            )
        check_at_least("data.seed", self.seed, 0)
        check_at_least("data.sine_samples", self.sine_samples, 1)
        check_at_least("data.sine_features", self.sine_features, 1)
        check(
            self.label is None or bool(self.label.strip()),
            "data.label must name a column, or be null",
        )
        for key in ("entity", "time"):
            name = getattr(self, key)
            check(name is None or bool(name.strip()), f"data.{key} must name a column, or be null")
        check(
            self.entity is None or self.entity != self.time,
            "data.entity and data.time must be different columns",
        )
        check(
            not self.static or self.entity is not None or self.source.endswith(".npz"),
            "data.static needs data.entity=COLUMN: attributes belong to entities (sequences)",
        )
        both = [c for c in self.static if self.columns is not None and c in self.columns]
        check(
            not both,
            f"column {both[0] if both else ''!r} is in data.static (one value per entity) and in "
            "data.columns (a channel over time); list it in one of them",
        )
        check(
            self.split != "entity" or not self.mmap,
            "data.split=entity holds out whole entities; a memory-mapped .npy is one series: "
            "use data.split=random or time",
        )
        check(
            not self.whole or self.split != "time",
            "data.whole=true trains whole sequences; split them with data.split=random or none",
        )
        check(
            not (self.static and self.label is not None),
            "data.label and data.static cannot be combined: list the label column in data.static "
            "(and data.categorical) to condition on it with the other attributes",
        )


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

    def __post_init__(self) -> None:
        check_choice("model.preset", self.preset, TIMESERIES_PRESETS)
        if self.arch is not None:
            check_choice("model.arch", self.arch, ARCHS)
        for key in ("width", "depth", "heads", "ff"):
            check_at_least(f"model.{key}", getattr(self, key), 1, optional=True)
        if self.dropout is not None:
            check_share("model.dropout", self.dropout, closed=False)
        check_share("model.class_dropout", self.class_dropout, closed=False)
        base = TIMESERIES_PRESETS[self.preset]
        width = base["width"] if self.width is None else self.width
        heads = base["heads"] if self.heads is None else self.heads
        check(width % heads == 0, f"model.width {width} must be divisible by model.heads {heads}")


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
    # clamp x0 predictions to [-clip, clip]; auto: 1 where the scaler maps the data to [-1, 1]
    # (minmax, unit), no clamp where it does not (standard, none: values beyond +-1 are data)
    clip: float | str | None = "auto"
    batch_size: int = 500
    guidance: float = 1.0  # with data.label: classifier-free guidance scale (1 = conditional)
    # step grid: uniform | quadratic | logsnr | karras. Karras: on ETTh L = 384 DPM-Solver++ at
    # 12 steps matches DDPM-1000's Context-FID (0.42 vs 0.43; uniform grid: 0.63 at 20 steps)
    spacing: str = "karras"

    def __post_init__(self) -> None:
        check_sampling(self)


@dataclass(frozen=True)
class RunConfig:
    """Everything a time-series run needs."""

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    diffusion: DiffusionConfig = field(default_factory=DiffusionConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    sample: SampleConfig = field(default_factory=SampleConfig)


def sample_clip(cfg: RunConfig) -> float | None:
    """The x0 clamp a run samples with: sample.clip, with `auto` resolved by data.scaler."""
    clip = cfg.sample.clip
    if clip == "auto":
        return 1.0 if cfg.data.scaler in ("minmax", "unit") else None
    return None if clip is None else float(clip)
