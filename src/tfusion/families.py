"""The family table: a family's name -> its config class and its train, load, sample, evaluate,
demo and describe functions. The CLI, `tfusion info` and `tfusion demo` read this table and
nothing else, so a new family is one new folder plus one row here.

Each family folder has a `family.py` whose `FAMILY` is a `Family`; it is imported only when that
family is used, so `tfusion info` or a DiT run never imports the time-series code.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from tfusion.config import load_config
from tfusion.errors import ConfigError
from tfusion.runs import FAMILY_NAMES, family_of, saved_config

_MODULES = {name: f"tfusion.{name}.family" for name in FAMILY_NAMES}


@dataclass(frozen=True)
class SampleRequest:
    """What `tfusion sample` was asked; each family reads the options that mean something to it
    and refuses the others with one line (`Family.refuse`). None means the run's default."""

    out: str | None = None
    n: int | None = None
    sampler: str | None = None
    steps: int | None = None
    eta: float | None = None
    spacing: str | None = None
    guidance: float | None = None
    seed: int = 0
    raw_weights: bool = False
    bf16: bool = False
    device: str | None = None  # auto | cpu | cuda | cuda:N | mps (None: the CPU)
    labels: str | None = None  # time series / DiT: comma list
    length: int | None = None  # time series: window length
    entities: int | None = None  # time series trained with data.entity: synthetic entities
    where: tuple[str, ...] = ()  # time-series panels: NAME=VALUE attribute conditions, or a table
    prompt: str | None = None  # multimodal: text to draw, or to continue (.md out)
    caption: str | None = None  # multimodal: an image file to caption
    max_tokens: int | None = None  # multimodal text
    temperature: float | None = None
    top_k: int | None = None
    top_p: float | None = None

    def given(self) -> set[str]:
        """Names of the options set to something other than their default."""
        return {f.name for f in fields(self) if getattr(self, f.name) != f.default}


@dataclass(frozen=True)
class EvaluateRequest:
    """What `tfusion evaluate RUN` was asked (None: the family's default)."""

    out: str | None = None
    n: int = 1000
    sampler: str | None = None
    steps: int | None = None
    seed: int = 0
    repeats: int = 5
    long_repeats: int | None = None
    metrics: str | None = None
    quick: bool = False
    baselines: bool = True
    device: str | None = None  # where the run samples and the probes train (None: the CPU)
    workers: int | None = None  # processes for the time-series probes (None: one per core)


@dataclass(frozen=True)
class Family:
    """One model family's entry in the table."""

    name: str
    title: str  # one line: what it generates, from which paper
    unit: str  # what a training step's batch counts: windows, images, sequences
    config: type  # its run config class (frozen dataclass)
    train: Callable[[Any, Path, bool], Any]  # (cfg, run, resume) -> FitResult
    load: Callable[..., Any]  # (run, ema=True) -> a loaded run, ready to sample
    sample: Callable[[Path, SampleRequest], str]  # writes req.out; returns the line to print
    evaluate: Callable[[Path, EvaluateRequest], str]  # writes a report; returns lines to print
    demo: Callable[[str | Path | None, int | None, str | None], Path]  # -> report.md
    describe: Callable[[Path], list[str]]  # family-specific lines of `tfusion info RUN`
    presets: Callable[[], list[str]]  # lines of `tfusion info`
    sample_options: frozenset[str]  # SampleRequest fields this family reads
    demo_out: str  # the demo's default report folder
    # evaluate without a run: --real DATA --synthetic SAMPLES (the default family's)
    evaluate_files: Callable[..., str] | None = None
    # conditional generation from a series: (run, input, out, samples, seed[, horizon]) -> line
    impute: Callable[..., str] | None = None
    forecast: Callable[..., str] | None = None

    def refuse(self, req: SampleRequest) -> None:
        """One line naming the options this family's runs do not take."""
        extra = sorted(req.given() - self.sample_options - {"out", "seed", "device"})
        if extra:
            flags = ", ".join("--" + e.replace("_", "-") for e in extra)
            verb = "does" if len(extra) == 1 else "do"
            raise ConfigError(f"{flags} {verb} not apply to a {self.name} run; drop it")

    def new_config(self, path: str | Path | None, overrides: list[str] | tuple[str, ...]) -> Any:
        """Defaults < YAML file < overrides, for this family's config class."""
        return load_config(path, overrides, self.config)

    def saved_config(self, run: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> Any:
        """The config a run of this family was trained with, plus overrides."""
        return saved_config(run, self.config, self.name, overrides)


def get(name: str) -> Family:
    """The family called `name` (timeseries, dit, multimodal)."""
    if name not in _MODULES:
        raise ConfigError(f"unknown family {name!r}; choose one of {', '.join(_MODULES)}")
    return importlib.import_module(_MODULES[name]).FAMILY


def of(path: str | Path | None) -> Family:
    """The family of a YAML config or a run folder (default: time series)."""
    return get(family_of(path))


def names() -> tuple[str, ...]:
    """Every family's name, in table order."""
    return tuple(_MODULES)
