"""The generic training loop: any model, any loss, exact resume, crash-safe checkpoints.

Everything random in a step (batch, diffusion time, noise) is drawn from one `torch.Generator`,
dropout from torch's global generator; both states are checkpointed, so a resumed run repeats
the uninterrupted one exactly.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from tfusion.config import TrainConfig
from tfusion.errors import TrainingError
from tfusion.io import atomic_write_text
from tfusion.precision import use_bf16
from tfusion.progress import progress
from tfusion.threads import flush_denormals
from tfusion.training.checkpoint import load_train_state, load_weights, recover, save_checkpoint
from tfusion.training.distributed import current_world
from tfusion.training.ema import EMA
from tfusion.training.optim import lr_factor, make_optimizer

LossFn = Callable[[nn.Module, torch.Generator], Tensor]  # (model, generator) -> scalar loss


@dataclass(frozen=True)
class FitResult:
    """What a finished (or resumed-and-finished) training run did."""

    run: Path
    steps: int
    final_loss: float
    seconds: float
    windows_per_second: float


def _read_metrics(path: Path, upto: int) -> list[dict[str, Any]]:
    """Metric lines with step <= upto (a resumed run rewrites the tail it will repeat)."""
    if not path.exists():
        return []
    rows = []
    for line in path.read_text(errors="replace").splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line cut by a crash
        if row.get("step", 0) <= upto:
            rows.append(row)
    return rows


def fit(
    model: nn.Module,
    loss_fn: LossFn,
    cfg: TrainConfig,
    run: Path,
    metadata: dict[str, Any],
    resume: bool = False,
    batch_size: int | None = None,
) -> FitResult:
    """Train `model` for cfg.steps optimiser steps, checkpointing into `run`.

    Under torchrun (see `tfusion.training.distributed`) the model is wrapped in DDP, `loss_fn`
    must take its rank's slice of the global batch, and rank 0 alone writes to `run`.
    """
    with flush_denormals():
        return _fit(model, loss_fn, cfg, run, metadata, resume, batch_size)


def _fit(
    model: nn.Module,
    loss_fn: LossFn,
    cfg: TrainConfig,
    run: Path,
    metadata: dict[str, Any],
    resume: bool,
    batch_size: int | None,
) -> FitResult:
    world = current_world()
    torch.manual_seed(cfg.seed + world.rank)  # dropout: each rank its own masks
    gen = torch.Generator().manual_seed(cfg.seed + 1)  # batch, t, noise: the same on every rank
    sharded = world.size > 1 and cfg.parallel == "fsdp"
    bf16 = use_bf16(cfg.bf16, "training", quiet=not world.is_main)
    bf16 = world.mean(float(bf16)) > 0.5  # every rank takes the same precision (majority)
    ema = EMA(model, cfg.ema_decay)
    state: dict[str, Any] | None = None
    start = 0
    metrics_path = run / "metrics.jsonl"
    if resume and world.is_main:
        recover(run)
    world.barrier()
    if resume and (run / "train_state.pt").exists():
        state = load_train_state(run / "train_state.pt")
        load_weights(model, run / "model.safetensors")
        load_weights(ema.model, run / "ema.safetensors")
        gen.set_state(state["generator"])
        torch.set_rng_state(state["torch_rng"])
        start = int(state["step"])
        if world.is_main:
            rows = _read_metrics(metrics_path, start)
            atomic_write_text(metrics_path, "".join(json.dumps(r) + "\n" for r in rows))
    elif world.is_main:
        metrics_path.unlink(missing_ok=True)
    world.barrier()
    net = model
    if sharded:
        from tfusion.training.sharding import load_sharded_optimizer_state, shard_model

        shard_model(model)
        shard_model(ema.model)  # the same units: the EMA update stays shard by shard
    elif world.size > 1:
        net = torch.nn.parallel.DistributedDataParallel(model)
    if cfg.compile:  # the wrapper shares model's parameters: checkpoints and EMA are unchanged
        net = torch.compile(net)
    opt = make_optimizer(model, cfg)  # after sharding: it must hold the sharded parameters
    if state is not None:
        if sharded:
            load_sharded_optimizer_state(opt, state["optimizer"])
        else:
            opt.load_state_dict(state["optimizer"])

    def checkpoint(step: int) -> None:
        if sharded:  # every rank takes part in gathering the whole tensors
            from tfusion.training.sharding import full_optimizer_state, full_state_dict

            weights: Any = full_state_dict(model)
            ema_weights: Any = full_state_dict(ema.model)
            opt_state = full_optimizer_state(opt)
        else:
            weights, ema_weights = model, ema.model
            opt_state = opt.state_dict() if world.is_main else {}
        if not world.is_main:
            world.barrier()
            return
        state = {
            "step": step,
            "optimizer": opt_state,
            "generator": gen.get_state(),
            "torch_rng": torch.get_rng_state(),
        }
        save_checkpoint(run, weights, ema_weights, state, metadata)
        world.barrier()

    model.train()
    t0 = time.perf_counter()
    last_log_time, last_log_step = t0, start
    bs = (batch_size or cfg.batch_size) * world.size  # the global batch
    loss_value = float("nan")
    running: list[float] = []
    end = cfg.steps if cfg.stop_after is None else min(cfg.steps, max(cfg.stop_after, start))
    show = cfg.progress and world.is_main
    # driven by update(): the count shown is always the steps done, postfix or not
    bar = progress(None, show, initial=start, total=cfg.steps, desc="training")
    with bar, open(metrics_path if world.is_main else os.devnull, "a") as log:
        elapsed = 0.0  # rank 0's clock, shared (train.max_seconds)
        for step in range(start, end):
            sched = step
            if cfg.max_seconds is not None and step >= cfg.warmup:
                # a time budget: the cosine follows whichever runs out first, steps or seconds
                frac = min(elapsed / cfg.max_seconds, 1.0)
                sched = max(step, cfg.warmup + int(frac * (cfg.steps - cfg.warmup)))
            lr = cfg.lr * lr_factor(sched, cfg.warmup, cfg.steps, cfg.min_lr_ratio)
            for group in opt.param_groups:
                group["lr"] = lr
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                loss = loss_fn(net, gen)
            loss_value = world.mean(float(loss.detach()))  # the global batch's loss
            if not math.isfinite(loss_value):
                saved = (run / "train_state.pt").exists()
                kept = "the last good checkpoint is kept" if saved else "no checkpoint was written"
                raise TrainingError(
                    f"loss became {loss_value} at step {step + 1}; {kept} in {run}; "
                    "lower train.lr, raise train.warmup or check the data for extreme values"
                )
            opt.zero_grad(set_to_none=True)
            loss.backward()
            grad_norm = torch.nn.utils.clip_grad_norm_(
                model.parameters(), cfg.grad_clip if cfg.grad_clip > 0 else float("inf")
            )
            if sharded:  # the global norm, as a DTensor
                grad_norm = grad_norm.full_tensor()
            if not torch.isfinite(grad_norm):
                raise TrainingError(
                    f"gradient became {float(grad_norm)} at step {step + 1}; checkpoints in {run} "
                    "are untouched; lower train.lr or check the data for extreme values"
                )
            opt.step()
            ema.update(model, step)
            running.append(loss_value)
            done = step + 1
            out_of_time = False
            if cfg.max_seconds is not None:  # every rank stops at the same step: rank 0's clock
                elapsed = world.broadcast_value(time.perf_counter() - t0)
                out_of_time = elapsed > cfg.max_seconds
            if done % cfg.log_every == 0 or done in (cfg.steps, end) or out_of_time:
                now = time.perf_counter()
                speed = (done - last_log_step) * bs / max(now - last_log_time, 1e-9)
                row = {
                    "step": done,
                    "loss": sum(running) / len(running),
                    "lr": lr,
                    "grad_norm": float(grad_norm),
                    "windows_per_s": speed,
                    "elapsed_s": now - t0,
                }
                log.write(json.dumps(row) + "\n")
                log.flush()
                # shown with the count on the bar's next line, not as a line of its own
                bar.set_postfix(loss=f"{row['loss']:.4f}", win_s=f"{speed:.0f}", refresh=False)
                running.clear()
                last_log_time, last_log_step = now, done
            bar.update(1)
            if done % cfg.checkpoint_every == 0 or done in (cfg.steps, end) or out_of_time:
                checkpoint(done)
            if out_of_time:
                end = done
                break
    seconds = time.perf_counter() - t0
    steps_run = end - start
    return FitResult(run, end, loss_value, seconds, steps_run * bs / max(seconds, 1e-9))
