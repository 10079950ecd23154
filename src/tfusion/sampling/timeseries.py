"""Generate windows from a trained time-series run and write them in the original units."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from tfusion.config import RunConfig
from tfusion.data import Scaler
from tfusion.diffusion import Objective, Schedule, make_sampler, sample_loop
from tfusion.errors import CheckpointError, ConfigError
from tfusion.io import atomic_path
from tfusion.models.timeseries import TimeSeriesDenoiser
from tfusion.training.checkpoint import load_weights, recover
from tfusion.training.timeseries import make_diffusion, saved_config


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

    @classmethod
    def load(cls, run: str | Path, ema: bool = True) -> TimeSeriesRun:
        """Load a run folder; `ema` picks the EMA weights (default) or the raw ones."""
        path = Path(run)
        if not path.is_dir():
            raise CheckpointError(
                f"run folder {path} not found; pass the --out folder of `tfusion train`"
            )
        recover(path)
        cfg = saved_config(path)
        state_path = path / "data_state.json"
        try:
            state = json.loads(state_path.read_text())
            scaler = Scaler.from_dict(state["scaler"])
            columns = tuple(state["columns"])
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise CheckpointError(
                f"{state_path} is missing or corrupt ({type(e).__name__}); cannot sample this run"
            ) from None
        model = TimeSeriesDenoiser.from_config(cfg.model, len(columns))
        load_weights(model, path / ("ema.safetensors" if ema else "model.safetensors"))
        model.eval()
        schedule, objective = make_diffusion(cfg)
        return cls(path, cfg, model, schedule, objective, scaler, columns, cfg.data.window)

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
    ) -> np.ndarray:
        """n windows (n, L, C); in original units unless `scaled` (then in the model's [-1, 1])."""
        sc = self.cfg.sample
        name = sampler or sc.sampler
        if steps is None:
            steps = self.schedule.num_steps if name == "ddpm" else sc.steps
        if n < 1:
            raise ConfigError(f"--n must be at least 1, got {n}")
        length = length or self.window
        smp = make_sampler(name, sc.eta if eta is None else eta)
        gen = torch.Generator().manual_seed(seed)
        bs = batch_size or sc.batch_size
        out = []

        def denoise(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                return self.model(x, t)

        for start in range(0, n, bs):
            b = min(bs, n - start)
            shape = (b, length, len(self.columns))
            x = sample_loop(
                denoise,
                shape,
                self.schedule,
                self.objective.prediction,
                smp,
                steps,
                gen,
                clip_x0=sc.clip,
                progress=progress,
            )
            out.append(x.float().numpy())
        x = np.concatenate(out)
        return x if scaled else self.scaler.inverse_transform(x)


def check_sample_path(path: str | Path) -> Path:
    """Fail before sampling if the samples could not be written to `path`."""
    path = Path(path)
    if path.suffix.lower() not in (".npy", ".csv"):
        raise ConfigError(f"--out must end in .npy or .csv, got {path.name!r}")
    if not path.parent.is_dir():
        raise ConfigError(f"folder {path.parent} does not exist; create it or choose another --out")
    return path


def write_samples(x: np.ndarray, path: str | Path, columns: tuple[str, ...] | list[str]) -> Path:
    """Write windows (n, L, C) atomically: .npy, or long-format .csv (window, step, columns)."""
    path = check_sample_path(path)
    suffix = path.suffix.lower()
    with atomic_path(path) as tmp:
        if suffix == ".npy":
            with open(tmp, "wb") as f:
                np.save(f, x)
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
    return path
