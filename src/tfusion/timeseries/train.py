"""Train a TransFusion time-series model: data -> run folder."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import Tensor, nn

from tfusion import __version__, runs
from tfusion.config import dump_yaml
from tfusion.data.builtin import BUILTIN
from tfusion.devices import device_of, to_device
from tfusion.diffusion import Objective, Schedule, diffusion_loss, drop_condition, noised
from tfusion.errors import ConfigError
from tfusion.io import atomic_write_text
from tfusion.runs import check_disk, check_run_folder, check_same_sections
from tfusion.timeseries.config import RunConfig
from tfusion.timeseries.data import Prepared, prepare
from tfusion.timeseries.model import TimeSeriesDenoiser
from tfusion.timeseries.presets import resolve_model
from tfusion.training.distributed import World, current_world
from tfusion.training.loop import FitResult, fit
from tfusion.training.plots import plot_loss_curve

ATTR_BATCH = 8  # panels: attribute vectors per sequence in a training batch


def make_diffusion(cfg: RunConfig) -> tuple[Schedule, Objective]:
    """The schedule and objective a run config asks for."""
    d = cfg.diffusion
    return Schedule.create(d.schedule, d.steps), Objective(d.prediction, d.loss, d.fourier_weight)


def train_timeseries(
    cfg: RunConfig,
    run: str | Path,
    resume: bool = False,
    frame: pd.DataFrame | None = None,
) -> FitResult:
    """Train on cfg.data (on `frame` instead of cfg.data.source when given) and write the run
    folder `run` (see DESIGN.md for its files)."""
    run = Path(run)
    world = current_world()
    check_run_folder(run, resume)
    world.barrier()  # every rank has looked at the folder before rank 0 writes into it
    # the run keeps its data file's absolute path: evaluated or resumed from another folder,
    # it still finds its data
    data_cfg = replace(cfg.data, source=_absolute(cfg.data.source))
    cfg = RunConfig(data_cfg, resolve_model(cfg.model), cfg.diffusion, cfg.train, cfg.sample)
    if resume:
        saved = saved_config(run)  # runs saved before kept the path as given
        saved = replace(saved, data=replace(saved.data, source=_absolute(saved.data.source)))
        check_same_sections(saved, cfg)
    data: Prepared = prepare(cfg.data, frame)
    cfg = replace(cfg, train=cfg.train.for_examples(len(data.train), world.size))  # epochs
    features = len(data.columns)
    torch.manual_seed(cfg.train.seed)
    classes = len(data.classes)
    attributes = 0 if data.codec is None else data.codec.attribute_dim
    model = TimeSeriesDenoiser.from_config(cfg.model, features, classes, attributes)
    check_disk(run, model)
    schedule, objective = make_diffusion(cfg)
    if not resume and world.is_main:
        atomic_write_text(run / "config.yaml", dump_yaml(cfg))
        atomic_write_text(run / "data_state.json", json.dumps(data.state(), indent=2))
    if resume and frame is None:
        check_same_data(run, data)
    for notice in data.notices:
        print(f"note: {notice}")

    train = data.train
    bs = cfg.train.batch_size
    weights = channel_weights(data)  # moved to the model's device once, at the first step
    labels = torch.from_numpy(data.labels(train)) if classes else None

    def loss_fn(m: nn.Module, gen: torch.Generator, world: World) -> Tensor:
        if attributes:
            return panel_loss(m, gen, world)
        idx = torch.randint(len(train), (bs * world.size,), generator=gen)
        mine = world.shard(idx).numpy()
        x0 = to_device(torch.from_numpy(np.ascontiguousarray(train.batch(mine))), device_of(m))
        cond = None
        if labels is not None:  # dropped before t and noise are drawn, for the global batch
            y = drop_condition(labels[idx], classes, cfg.model.class_dropout, gen)
            cond = world.shard(y)
        return diffusion_loss(m, x0, schedule, objective, gen, world, cond, weights=weights)

    attrs = None if data.train_attrs is None else torch.from_numpy(data.train_attrs)
    lengths = None if data.train_lengths is None else torch.from_numpy(data.train_lengths)
    rows = None if data.train_attr_rows is None else torch.from_numpy(data.train_attr_rows)
    steps = torch.arange(train.length)

    def panel_loss(m: nn.Module, gen: torch.Generator, world: World) -> Tensor:
        """Sequences denoised given their attribute vectors (dropped to NaN with probability
        model.class_dropout, for guidance) and masked to their lengths; the attribute model
        denoises the attribute vectors of uniformly drawn training entities. One forward."""
        assert rows is not None
        dev = device_of(m)
        idx = torch.randint(len(train), (bs * world.size,), generator=gen)
        x0 = torch.from_numpy(np.ascontiguousarray(train.batch(world.shard(idx).numpy())))
        mask = None
        if lengths is not None:
            # the global batch's longest sequence sets the length (less padding to compute);
            # a batch without padding needs no mask (the fused attention kernels)
            cut = int(lengths[idx].max())
            mine = world.shard(lengths[idx])
            x0 = x0[:, :cut]
            if bool((mine < cut).any()):
                mask = to_device(steps[None, :cut] < mine[:, None], dev)
        x0 = to_device(x0, dev)
        assert attrs is not None
        drop = torch.rand(len(idx), generator=gen) < cfg.model.class_dropout
        cond = to_device(world.shard(torch.where(drop[:, None], torch.nan, attrs[idx])), dev)
        x_t, t, target = noised(x0, schedule, objective, gen, world)
        # the attribute model is tiny (one token): a batch of ATTR_BATCH x bs entities costs
        # little and cuts the noise of its gradient (its class frequencies settle sooner)
        pick = torch.randint(len(rows), (ATTR_BATCH * bs * world.size,), generator=gen)
        a0 = to_device(world.shard(rows[pick])[:, None], dev)  # (b, 1, A)
        a_t, t_a, a_target = noised(a0, schedule, objective, gen, world)
        pred, a_pred = m(x_t, t, cond, mask=mask, attr=(a_t, t_a))
        w = None if weights is None else to_device(weights, dev)
        return objective(pred, target, mask, w) + objective(a_pred, a_target)

    meta = {
        "family": "timeseries",
        "features": features,
        "window": cfg.data.window,
        "classes": classes,
        "attributes": attributes,
        "tfusion": __version__,
    }
    result = fit(model, loss_fn, cfg.train, run, meta, resume=resume)
    if world.is_main:
        plot_loss_curve(run / "metrics.jsonl", run / "loss.png")
    return result


def channel_weights(data: Prepared) -> Tensor | None:
    """Loss weights of the model's channels: 1 for a numeric channel, 1/K for each of the K
    one-hot columns of a categorical channel, so a category counts as one channel. Without
    it, on BasicMotions with a 3-level channel (benchmarks/panel_peers.py, 120 s), the one-hot
    columns took a third of the loss and the numeric channels' increment and autocorrelation
    distances were 0.0195 and 0.063; weighted, 0.0127-0.0154 and 0.048-0.049 in two runs, the
    category scores still the best of the peers (benchmarks/RESULTS.md)."""
    if data.codec is None or not data.codec.categorical:
        return None
    w = [1.0] * len(data.codec.numeric)
    for _, levels in data.codec.categorical:
        w += [1.0 / len(levels)] * len(levels)
    return torch.tensor(w)


def saved_config(run: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> RunConfig:
    """The config a run folder was trained with, plus optional `key=value` overrides."""
    return runs.saved_config(run, RunConfig, "timeseries", overrides)


__all__ = ["make_diffusion", "saved_config", "train_timeseries"]


def _absolute(source: str) -> str:
    """A data file's absolute path; a built-in data set's name as it is."""
    return source if source in BUILTIN else str(Path(source).expanduser().absolute())


def check_same_data(run: Path, data: Prepared, doing: str = "resume") -> None:
    """A run resumes, and is evaluated, on the data it was trained on: a data file that has
    since changed (other rows or windows, or other values: `Prepared.digest`) is refused, not
    used silently. Runs saved before the digest existed are compared by rows and windows."""
    saved = runs.read_data_state(run, lambda s: (s.get("rows"), s.get("windows"), s.get("digest")))
    rows, windows = data.rows, {"train": len(data.train), "test": len(data.test)}
    changed = saved[:2] != (rows, windows)
    if not changed and saved[2] is not None:
        changed = saved[2] != data.digest()
    if changed:
        what = (
            f"{saved[0]} rows then, {rows} now"
            if saved[0] != rows
            else "other values or windows than then"
        )
        fix = (
            "train a new run on it"
            if doing == "resume"
            else "score new data with --real FILE --synthetic FILE"
        )
        raise ConfigError(
            f"{data.config.source} has changed since run {run} was trained ({what}): "
            f"restore the file to {doing}, or {fix}"
        )
