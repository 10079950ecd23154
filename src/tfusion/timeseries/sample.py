"""Generate windows from a trained time-series run and write them in the original units."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tfusion import runs
from tfusion.data import Scaler
from tfusion.diffusion import Objective, SampleSettings, Schedule, sample_loop
from tfusion.diffusion.guidance import classifier_free_guidance
from tfusion.errors import ConfigError
from tfusion.io import atomic_path, check_out_path
from tfusion.precision import use_bf16
from tfusion.timeseries.config import RunConfig
from tfusion.timeseries.model import TimeSeriesDenoiser
from tfusion.timeseries.train import make_diffusion, saved_config
from tfusion.training.checkpoint import load_weights


@dataclass
class TimeSeriesRun:
    """A trained run, ready to sample: config, network (eval mode), diffusion and data state."""

    path: Path
    cfg: RunConfig
    model: TimeSeriesDenoiser
    schedule: Schedule
    objective: Objective
    scaler: Scaler
    columns: tuple[str, ...]
    window: int
    classes: tuple[str, ...] = ()  # a labelled run's class names (data.label)

    @classmethod
    def load(cls, run: str | Path, ema: bool = True) -> TimeSeriesRun:
        """Load a run folder; `ema` picks the EMA weights (default) or the raw ones."""
        path = runs.open_run(run)
        cfg = saved_config(path)
        scaler, columns, classes = runs.read_data_state(
            path,
            lambda s: (
                Scaler.from_dict(s["scaler"]),
                tuple(s["columns"]),
                tuple(str(c) for c in s.get("classes", [])),
            ),
        )
        model = TimeSeriesDenoiser.from_config(cfg.model, len(columns), len(classes))
        load_weights(model, runs.weights_path(path, ema))
        model.eval()
        schedule, objective = make_diffusion(cfg)
        return cls(path, cfg, model, schedule, objective, scaler, columns, cfg.data.window, classes)

    def class_ids(self, labels: Sequence[str | int]) -> np.ndarray:
        """Class ids of label names (as in the data's label column) or of ids given as ints."""
        if not self.classes:
            raise ConfigError(
                f"run {self.path} was trained without labels; train with data.label=COLUMN "
                "to sample by label"
            )
        ids = []
        for v in labels:  # ints are class ids, text is a label as written in the data
            name = str(v).strip()
            if isinstance(v, int | np.integer):
                if not 0 <= int(v) < len(self.classes):
                    raise ConfigError(
                        f"class id {int(v)} is out of range; this run has {len(self.classes)} "
                        f"classes (0..{len(self.classes) - 1})"
                    )
                ids.append(int(v))
            elif name in self.classes:
                ids.append(self.classes.index(name))
            else:
                shown = ", ".join(self.classes[:20]) + (" ..." if len(self.classes) > 20 else "")
                raise ConfigError(f"unknown label {name!r}; this run's labels are: {shown}")
        return np.asarray(ids, dtype=np.int64)

    def generate(
        self,
        n: int,
        sampler: str | None = None,
        steps: int | None = None,
        seed: int = 0,
        eta: float | None = None,
        length: int | None = None,
        batch_size: int | None = None,
        scaled: bool = False,
        progress: bool = False,
        bf16: bool = False,
        labels: Sequence[str | int] | np.ndarray | None = None,
        guidance: float | None = None,
        spacing: str | None = None,
    ) -> np.ndarray:
        """n windows (n, L, C); in original units unless `scaled` (then in the model's [-1, 1]).

        `spacing` overrides the run's sample.spacing (the step grid, see Schedule.timesteps).

        A labelled run takes `labels` (one per window, or one for all: names or class ids) and
        samples with classifier-free guidance `guidance` (default sample.guidance); without
        labels it samples the unconditional model (every class, in the data's proportions)."""
        sc = self.cfg.sample
        if n < 1:
            raise ConfigError(f"--n must be at least 1, got {n}")
        length = length or self.window
        settings = SampleSettings.from_section(sc).override(
            sampler=sampler, steps=steps, eta=eta, spacing=spacing, guidance=guidance
        )
        gen = torch.Generator().manual_seed(seed)
        bs = batch_size or sc.batch_size
        out = []

        ids = None
        if labels is not None:
            ids = self.class_ids([labels] if isinstance(labels, str | int) else list(labels))
            if len(ids) == 1:
                ids = np.repeat(ids, n)
            if len(ids) != n:
                raise ConfigError(f"got {len(ids)} labels for {n} windows; give 1 or {n}")
        bf16 = use_bf16(bf16, "sampling")

        def net(x: torch.Tensor, t: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                return self.model(x, t, y)

        for start in range(0, n, bs):
            b = min(bs, n - start)
            shape = (b, length, len(self.columns))
            denoise = net
            if ids is not None:
                y = torch.from_numpy(ids[start : start + b])
                null = torch.full_like(y, len(self.classes))
                denoise = classifier_free_guidance(net, y, null, settings.guidance)
            x = sample_loop(
                denoise,
                shape,
                self.schedule,
                self.objective.prediction,
                settings,
                generator=gen,
                progress=progress,
            )
            out.append(x.float().numpy())
        x = np.concatenate(out)
        return x if scaled else self.scaler.inverse_transform(x)


def check_sample_path(path: str | Path) -> Path:
    """Fail before sampling if the samples could not be written to `path`."""
    return check_out_path(path, (".npy", ".csv"))


def write_samples(
    x: np.ndarray,
    path: str | Path,
    columns: tuple[str, ...] | list[str],
    labels: Sequence[str] | None = None,
) -> Path:
    """Write windows (n, L, C) atomically: .npy (the windows; labels, if any, in a `.labels.txt`
    file beside it, one per window), or long-format .csv (window, [label,] step, columns)."""
    path = check_sample_path(path)
    suffix = path.suffix.lower()
    with atomic_path(path) as tmp:
        if suffix == ".npy":
            with open(tmp, "wb") as f:
                np.save(f, x)
        elif labels is not None:
            import pandas as pd

            n, length, c = x.shape
            frame = pd.DataFrame(x.reshape(-1, c), columns=list(columns))
            frame.insert(0, "step", np.tile(np.arange(length), n))
            frame.insert(0, "label", np.repeat(np.asarray(list(labels), dtype=object), length))
            frame.insert(0, "window", np.repeat(np.arange(n), length))
            frame.to_csv(tmp, index=False, float_format="%.7g")
        else:
            n, length, c = x.shape
            idx = np.stack(np.meshgrid(np.arange(n), np.arange(length), indexing="ij"), -1).reshape(
                -1, 2
            )
            flat = x.reshape(-1, c)
            header = ",".join(["window", "step", *columns])
            with open(tmp, "w") as f:
                f.write(header + "\n")
                np.savetxt(
                    f, np.hstack([idx, flat]), delimiter=",", fmt=["%d", "%d"] + ["%.7g"] * c
                )
    if labels is not None and suffix == ".npy":
        with atomic_path(path.with_suffix(".labels.txt")) as tmp:
            tmp.write_text("".join(f"{v}\n" for v in labels), encoding="utf-8")
    return path


ENTITY_OUT = (".csv", ".parquet")


def check_entity_path(path: str | Path) -> Path:
    """Fail before sampling if synthetic entities could not be written to `path`."""
    return check_out_path(path, ENTITY_OUT)


def entity_frame(
    x: np.ndarray,
    columns: Sequence[str],
    state: dict[str, Any],
    entity: str,
    time: str | None,
    reverse: bool = False,
    labels: tuple[str, Sequence[str]] | None = None,
    seed: int = 0,
) -> Any:
    """Synthetic sequences (n, L, C) as a long-format table with the input's schema: the entity
    column (ids synthetic-0, synthetic-1, ...), the time column regenerated at the learned step
    from start times drawn (seeded) from the real entities' starts, the label column (name,
    one label per sequence) if any, then the channels under their own names. `reverse` undoes
    data.reverse (the model sees time reversed; the table runs forward)."""
    import pandas as pd

    n, length, c = x.shape
    if reverse:
        x = x[:, ::-1]
    frame = pd.DataFrame(x.reshape(n * length, c).astype(np.float64), columns=list(columns))
    front: dict[str, Any] = {entity: np.repeat([f"synthetic-{i}" for i in range(n)], length)}
    if time is not None:
        starts = np.asarray(state["start_times"])
        step = float(state["time_step"])
        first = starts[np.random.default_rng(seed).integers(len(starts), size=n)]
        if state.get("time_kind") == "datetime":
            offsets = np.round(step * np.arange(length)).astype(np.int64)
            ns = first.astype(np.int64)[:, None] + offsets[None]
            front[time] = pd.to_datetime(ns.reshape(-1), unit="ns")
        else:
            front[time] = (first.astype(np.float64)[:, None] + step * np.arange(length)).reshape(-1)
    if labels is not None:
        front[labels[0]] = np.repeat(np.asarray(list(labels[1]), dtype=object), length)
    for k, (name, values) in enumerate(front.items()):
        frame.insert(k, name, values)
    return frame


def write_frame(frame: Any, path: str | Path) -> Path:
    """Write a table atomically as .csv or .parquet (by suffix)."""
    path = check_entity_path(path)
    with atomic_path(path) as tmp:
        if path.suffix.lower() == ".parquet":
            frame.to_parquet(tmp, index=False)
        else:
            frame.to_csv(tmp, index=False, float_format="%.7g")
    return path
