"""A run folder: create and check it, its config and data state, its weights, which family it is.

Every family writes the same layout (see DESIGN.md): `config.yaml` (the resolved, frozen config;
`family:` names the family, absent for time series), `data_state.json`, `model.safetensors`,
`ema.safetensors`, `train_state.pt`, `metrics.jsonl`, `loss.png`, `training.json` (what the last
training session ran: steps planned and done, the train.max_seconds budget, what stopped it).
This module knows the layout
and nothing of any family's model; `tfusion.families` maps a family name to its code.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from torch import nn

from tfusion.config_io import apply_overrides, from_dict, read_yaml
from tfusion.errors import CheckpointError, ConfigError

T = TypeVar("T")

FAMILY_NAMES = ("timeseries", "dit", "multimodal")
DEFAULT_FAMILY = "timeseries"  # a config without `family:` is a time-series one


def family_of(path: str | Path | None) -> str:
    """The family a YAML config or a run folder's config.yaml names (default timeseries).

    A missing or unreadable file gives the default: the family's own loader then reports it."""
    if path is None:
        return DEFAULT_FAMILY
    p = Path(path)
    if p.is_dir():
        p = p / "config.yaml"
    if not p.is_file():
        return DEFAULT_FAMILY
    try:
        data = read_yaml(p, "")
    except ConfigError:
        return DEFAULT_FAMILY
    family = data.get("family", DEFAULT_FAMILY)
    if family not in FAMILY_NAMES:
        raise ConfigError(
            f"unknown family {family!r} in {p}; choose one of {', '.join(FAMILY_NAMES)}"
        )
    return str(family)


def check_run_folder(run: Path, resume: bool) -> None:
    """Refuse to overwrite a finished run; fail early when the folder cannot be written."""
    if resume:
        if not (run / "config.yaml").is_file():
            raise ConfigError(f"{run} is not a tfusion run folder (no config.yaml); drop --resume")
        if (run / "model.safetensors").exists() and not (run / "train_state.pt").is_file():
            # resuming would train from step 0 and replace the trained weights
            raise ConfigError(
                f"{run} holds trained weights but no train_state.pt (the optimiser state a "
                "resume needs); it cannot be continued: train anew with another --out"
            )
        return
    if (run / "model.safetensors").exists():
        raise ConfigError(
            f"{run} already holds a run; pass --resume to continue it or choose another --out"
        )
    if (run / "config.yaml").exists():
        raise ConfigError(
            f"{run} holds a run that stopped before its first checkpoint; pass --resume to start "
            "it again (with any new key=value settings) or choose another --out"
        )
    if run.is_dir() and any(not p.name.startswith(".") for p in run.iterdir()):
        # (dot files are skipped: other ranks' write probes and lock files)
        raise ConfigError(
            f"{run} already holds files that are not a tfusion run, which training would "
            "overwrite; choose a new or empty folder for --out"
        )
    try:
        run.mkdir(parents=True, exist_ok=True)
        probe = run / f".write-test-{os.getpid()}"  # per process: torchrun ranks probe at once
        probe.write_text("ok")
        probe.unlink()
    except OSError as e:
        raise ConfigError(
            f"cannot write to run folder {run} ({e.strerror}); choose another --out"
        ) from None


def fresh_demo_run(out: str | Path) -> tuple[Path, Path]:
    """A demo's report folder and its `run` sub-folder, emptied: a demo always starts afresh."""
    out = Path(out)
    run = out / "run"
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} is a file; the demo writes a folder: choose another --out")
    if run.exists():
        if not (run / "config.yaml").is_file() and any(run.iterdir()):
            raise ConfigError(
                f"{run} holds files that are not a tfusion run, and the demo would replace it; "
                "choose another --out"
            )
        shutil.rmtree(run)
    out.mkdir(parents=True, exist_ok=True)
    return out, run


def check_run_exists(run: str | Path) -> Path:
    """The path of an existing run folder, or a one-line error that says what to pass."""
    path = Path(run)
    if path.is_file():
        raise CheckpointError(
            f"{path} is a file, not a run folder; pass the --out folder of `tfusion train`"
        )
    if not path.is_dir():
        raise CheckpointError(
            f"run folder {path} not found; pass the --out folder of `tfusion train`"
        )
    return path


def check_same_sections(saved: Any, cfg: Any) -> None:
    """A resumed run keeps the data, model and diffusion sections it was started with."""
    for section in ("data", "model", "diffusion"):
        if getattr(saved, section) != getattr(cfg, section):
            raise ConfigError(
                f"the {section} section differs from the run's config.yaml; a resumed run "
                f"keeps its {section} settings (start a new run to change them)"
            )


def check_disk(run: Path, model: nn.Module) -> None:
    """A checkpoint needs ~4 copies of the weights (model, EMA, Adam's two moments) plus staging."""
    need = 8 * sum(p.numel() * p.element_size() for p in model.parameters())
    free = shutil.disk_usage(run).free
    if free < need:
        raise ConfigError(
            f"only {free / 2**20:.1f} MiB free at {run}, a checkpoint needs "
            f"~{need / 2**20:.1f} MiB; free some space or choose another --out"
        )


def saved_config(
    run: str | Path,
    cls: type[T],
    family: str = DEFAULT_FAMILY,
    overrides: list[str] | tuple[str, ...] = (),
) -> T:
    """The config of class `cls` a run folder was trained with, plus `key=value` overrides."""
    path = Path(run) / "config.yaml"
    if not path.is_file():
        raise ConfigError(f"{run} is not a tfusion run folder (no config.yaml)")
    data = read_yaml(path, "restore it from a backup")
    if not data:  # a user's empty config means "the defaults"; a run's means damage
        raise ConfigError(f"{path} is empty (damaged?); restore it from a backup")
    found = data.get("family", DEFAULT_FAMILY)
    if found != family:
        raise ConfigError(f"{run} is a {found} run, not a {family} run")
    return apply_overrides(from_dict(cls, data), overrides)


def open_run(run: str | Path) -> Path:
    """An existing run folder, with an interrupted checkpoint move finished (see `recover`;
    not while a process trains into it: sampling a run as it trains is fine)."""
    from tfusion.training.checkpoint import recover_if_idle

    path = check_run_exists(run)
    recover_if_idle(path)
    return path


def damage(error: BaseException) -> str:
    """What is wrong with a run file, from the error reading it: "is missing", "is not valid
    JSON (...)", "lacks the field 'x'" or "is damaged (...)"; the phrase follows the path."""
    if isinstance(error, FileNotFoundError):
        return "is missing"
    if isinstance(error, json.JSONDecodeError):
        return (
            f"is not valid JSON ({error.msg} at line {error.lineno}, column {error.colno}): "
            "it was cut short or edited"
        )
    if isinstance(error, KeyError):
        return f"lacks the field {error.args[0]!r}" if error.args else "lacks a field"
    lines = str(error).strip().splitlines()
    return f"is damaged ({lines[0] if lines else type(error).__name__})"


def read_data_state(run: str | Path, parse: Callable[[dict[str, Any]], T] | None = None) -> Any:
    """The run's data_state.json (passed through `parse`, when given), or a one-line error: a
    missing file, bad JSON or a missing or malformed field all mean a damaged run."""
    path = Path(run) / "data_state.json"
    try:
        state = json.loads(path.read_text())
        if not isinstance(state, dict):
            raise TypeError("it holds no mapping of fields")
        return state if parse is None else parse(state)
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise CheckpointError(
            f"{path} {damage(e)}; this run cannot be used without it (restore the file or retrain)"
        ) from None


def weights_path(run: str | Path, ema: bool = True) -> Path:
    """The EMA weights (default) or the raw ones."""
    return Path(run) / ("ema.safetensors" if ema else "model.safetensors")


@dataclass(frozen=True)
class RunSummary:
    """What `tfusion info RUN` says of any run, whatever its family."""

    path: Path
    family: str
    steps_trained: int
    steps_planned: int | None
    parameters: int
    last_loss: float | None
    files: tuple[str, ...]
    stopped_by: str | None = None  # training.json: steps | max_seconds | stop_after
    max_seconds: float | None = None  # training.json: the wall-clock budget, if any
    global_batch: int | None = None  # training.json: examples per step, all processes
    accumulate: int | None = None  # training.json: micro-batches per step


def summarise(run: str | Path) -> RunSummary:
    """Family, steps trained, parameter count and last logged loss of a run folder."""
    path = check_run_exists(run)
    family = family_of(path)
    if not (path / "config.yaml").is_file():
        raise ConfigError(f"{path} is not a tfusion run folder (no config.yaml)")
    data = read_yaml(path / "config.yaml", "restore it from a backup")
    planned = (data.get("train") or {}).get("steps")
    steps, loss = 0, None
    metrics = path / "metrics.jsonl"
    if metrics.is_file():
        for line in metrics.read_text().splitlines():
            try:
                row = json.loads(line)
            except ValueError:
                continue
            steps, loss = int(row.get("step", steps)), row.get("loss", loss)
    params = 0
    weights = weights_path(path, ema=False)
    if weights.is_file():
        from safetensors import safe_open

        try:
            with safe_open(str(weights), "pt") as f:
                for key in f.keys():  # noqa: SIM118 (safe_open has no __iter__)
                    shape = f.get_slice(key).get_shape()
                    n = 1
                    for d in shape:
                        n *= int(d)
                    params += n
        except Exception:  # a damaged file: the summary still says the rest
            params = 0
    files = tuple(sorted(p.name for p in path.iterdir() if not p.name.startswith(".")))
    record: dict[str, Any] = {}
    # absent in runs older than it, or damaged: the summary goes without it
    with contextlib.suppress(OSError, ValueError):
        record = json.loads((path / "training.json").read_text())
    if not isinstance(record, dict):
        record = {}
    return RunSummary(
        path,
        family,
        steps,
        int(planned) if planned else None,
        params,
        loss,
        files,
        record.get("stopped_by"),
        record.get("max_seconds"),
        record.get("global_batch"),
        record.get("accumulate"),
    )
