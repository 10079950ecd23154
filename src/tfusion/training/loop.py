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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from tfusion.config import TrainConfig
from tfusion.devices import configure_matmuls, resolve_device, resolve_precision
from tfusion.errors import CheckpointError, ConfigError, TrainingError
from tfusion.io import atomic_write_text
from tfusion.progress import progress
from tfusion.threads import flush_denormals
from tfusion.training.checkpoint import (
    load_train_state,
    load_weights,
    recover,
    save_checkpoint,
    training_lock,
)
from tfusion.training.distributed import current_world
from tfusion.training.ema import EMA
from tfusion.training.micro import (
    LossFn,
    micro_steps,
    more_parts,
    oom_message,
    out_of_memory,
    with_world,
)
from tfusion.training.optim import lr_factor, make_optimizer


@dataclass(frozen=True)
class FitResult:
    """What a finished (or resumed-and-finished) training run did."""

    run: Path
    steps: int
    final_loss: float
    seconds: float
    windows_per_second: float
    device: str = "cpu"
    precision: str = "fp32"
    stopped_by: str = "steps"  # steps (train.steps done) | max_seconds | stop_after


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
    """Train `model` for cfg.steps optimiser steps, checkpointing into `run`; what ran (steps
    planned and done, the time budget, what stopped it, speed) is written to `training.json`.

    `loss_fn(model, generator, world)` draws the global batch from the generator and returns
    the mean loss over `world.shard`'s slice of it: under torchrun (see
    `tfusion.training.distributed`) the rank's slice, with train.accumulate > 1 the micro-batch's
    slice of that. A `loss_fn(model, generator)` computes its whole batch (no micro-batches).
    Under torchrun the model is wrapped in DDP (or sharded) and rank 0 alone writes to `run`.
    """
    _ = cfg.micro_batch  # a ConfigError unless the batch splits into train.accumulate parts
    if cfg.accumulate == "auto" and current_world().size > 1:
        raise ConfigError(
            "train.accumulate=auto works in one process (ranks could run out of memory at "
            "different steps); under torchrun give a number"
        )
    loss, splittable = with_world(loss_fn, 1 if cfg.accumulate == "auto" else int(cfg.accumulate))
    with flush_denormals(), training_lock(run, current_world().is_main):
        return _fit(model, loss, cfg, run, metadata, resume, batch_size, splittable)


def _fit(
    model: nn.Module,
    loss_fn: LossFn,
    cfg: TrainConfig,
    run: Path,
    metadata: dict[str, Any],
    resume: bool,
    batch_size: int | None,
    splittable: bool,
) -> FitResult:
    world = current_world()
    torch.manual_seed(cfg.seed + world.rank)  # dropout: each rank its own masks
    gen = torch.Generator().manual_seed(cfg.seed + 1)  # batch, t, noise: the same on every rank
    sharded = world.size > 1 and cfg.parallel == "fsdp"
    device, _ = resolve_device(cfg.device)
    precision = resolve_precision(cfg.bf16, device)
    if world.size > 1:  # every rank takes the same precision (the majority's)
        lowered = world.mean(float(precision.dtype is not None)) > 0.5
        if lowered != (precision.dtype is not None):
            precision = resolve_precision(lowered, device)
    if cfg.bf16 is True and precision.dtype is None and world.is_main:
        print(f"note: bf16 requested, but {precision.reason}; training runs in fp32")
    configure_matmuls(precision)
    model.to(device)
    ema = EMA(model, cfg.ema_decay, cfg.ema_warmup)
    state: dict[str, Any] | None = None
    start = resumed_sched = last_sched = 0
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
        if device.type == "cuda" and "cuda_rng" in state:  # dropout on the GPU
            torch.cuda.set_rng_state(state["cuda_rng"], device)
        if world.rank > 0:
            # the saved dropout state is rank 0's; the other ranks draw their own masks again
            # (seeded by rank and step, so a multi-process resume is repeatable, though not
            # equal to the uninterrupted run when dropout is on)
            torch.manual_seed(cfg.seed + world.rank + 1_000_003 * int(state["step"]))
        start = int(state["step"])
        resumed_sched = int(state.get("schedule_step", start))
        if cfg.steps < start:
            raise ConfigError(
                f"run {run} has already trained {start} steps, more than train.steps={cfg.steps}; "
                f"give train.steps above {start} to train on"
            )
        if world.is_main:
            rows = _read_metrics(metrics_path, start)
            atomic_write_text(metrics_path, "".join(json.dumps(r) + "\n" for r in rows))
    elif world.is_main:
        metrics_path.unlink(missing_ok=True)
    world.barrier()
    net = model
    if sharded:
        from tfusion.training.sharding import load_sharded_optimizer_state, shard_model

        shard_model(model, device)
        shard_model(ema.model, device)  # the same units: the EMA update stays shard by shard
    elif world.size > 1:
        ids = [device.index] if device.type == "cuda" else None
        # a model whose steps may leave parameters out says so (partial_graph): DDP then finds
        # them each step instead of waiting for their gradients
        unused = bool(getattr(model, "partial_graph", False))
        net = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=ids, find_unused_parameters=unused
        )
    if cfg.compile:  # the wrapper shares model's parameters: checkpoints and EMA are unchanged
        net = torch.compile(net)
    opt = make_optimizer(model, cfg)  # after sharding: it must hold the sharded parameters
    if state is not None:
        chosen = [(g.get("fused"), g.get("foreach")) for g in opt.param_groups]
        if sharded:
            load_sharded_optimizer_state(opt, state["optimizer"])
        else:
            try:  # moments move to the parameters' device
                opt.load_state_dict(state["optimizer"])
            except (ValueError, KeyError, RuntimeError) as e:
                raise CheckpointError(_foreign_state(run, str(e))) from None
            for group in opt.param_groups:
                for p in group["params"]:
                    moments = opt.state.get(p, {}).values()
                    if any(torch.is_tensor(v) and v.dim() and v.shape != p.shape for v in moments):
                        raise CheckpointError(
                            _foreign_state(run, f"a moment is not {tuple(p.shape)}")
                        )
        # a saved state carries its device's kernel choice (fused on CUDA): keep this device's
        for group, (fused, foreach) in zip(opt.param_groups, chosen, strict=True):
            group["fused"], group["foreach"] = fused, foreach
            if fused:  # the fused kernel keeps its step count beside the parameters
                for p in group["params"]:
                    if "step" in opt.state.get(p, {}):
                        opt.state[p]["step"] = opt.state[p]["step"].to(p.device)
    # fp16 gradients are scaled (bf16 needs no scaling); the scale is not checkpointed: a
    # resumed fp16 run finds its scale again in a few steps
    scaler = torch.amp.GradScaler(device.type) if precision.scaled else None

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
            "schedule_step": last_sched,  # where the lr schedule stands (budgets move it on)
            "accumulate": parts,  # micro-batches per step (auto: the count it settled on)
            "optimizer": on_cpu(opt_state),  # device-free: resumable on any device
            "generator": gen.get_state(),
            "torch_rng": torch.get_rng_state(),
        }
        if device.type == "cuda":
            state["cuda_rng"] = torch.cuda.get_rng_state(device)
        save_checkpoint(run, weights, ema_weights, state, metadata)
        world.barrier()

    model.train()
    t0 = time.perf_counter()
    clock = time.process_time if cfg.clock == "process" else time.perf_counter
    c0 = clock()  # train.max_seconds counts on this clock
    cpu0 = time.process_time()
    last_log_time, last_log_step = t0, start
    bs = (batch_size or cfg.batch_size) * world.size  # the global batch
    auto = cfg.accumulate == "auto" and splittable  # a (model, generator) loss stays whole
    parts = 1 if cfg.accumulate == "auto" else int(cfg.accumulate)  # micro-batches per step
    if auto and state is not None:  # a resumed auto run starts at the count it settled on
        parts = max(1, int(state.get("accumulate", 1)))
    loss_value = float("nan")
    end = cfg.steps if cfg.stop_after is None else min(cfg.steps, max(cfg.stop_after, start))
    show = cfg.progress and world.is_main
    # On the CPU every step is checked (a value read costs nothing there). On an accelerator
    # reading a value waits for the queued work, so losses and gradient norms are summed on
    # the device and read at logging and checkpoint steps only; a non-finite value is still
    # caught before any checkpoint could hold it.
    check_every = 1 if device.type == "cpu" else cfg.log_every
    zero = torch.zeros((), device=device)
    loss_sum, bad_loss, bad_grad = zero.clone(), zero.clone(), zero.clone()
    since = start  # steps summed in loss_sum

    def check_finite(done: int, checked: int, step_loss: Tensor, grad_norm: Tensor) -> int:
        """Raise if a loss (on any rank) or a gradient norm since the last check was inf / NaN;
        returns the step now checked. Reads device values: on accelerators only now and then."""
        if world.mean(float(bad_loss)) > 0:
            raise TrainingError(_nonfinite("loss", done, checked, step_loss, run))
        if float(bad_grad) > 0:  # identical on every rank (averaged gradients)
            raise TrainingError(_nonfinite("gradient", done, checked, grad_norm, run))
        return done

    checked = start  # the last step whose values were read
    out_of_time = False
    # driven by update(): the count shown is always the steps done, postfix or not
    bar = progress(None, show, initial=start, total=cfg.steps, desc="training")
    with bar, open(metrics_path if world.is_main else os.devnull, "a") as log:
        elapsed = 0.0  # rank 0's clock, shared (train.max_seconds)
        # a time budget: the cosine follows whichever runs out first, steps or seconds. It
        # starts where warm-up ends (or where a resumed run left it: never back up the
        # cosine) and spreads what is left of it over the seconds left after that point.
        warm_end = None  # (schedule position, seconds) where this session's decay starts
        for step in range(start, end):
            sched = max(step, resumed_sched)
            if cfg.max_seconds is not None and step >= cfg.warmup:
                if warm_end is None:
                    warm_end = (max(step, resumed_sched, cfg.warmup), elapsed)
                at, t_at = warm_end
                frac = min((elapsed - t_at) / max(cfg.max_seconds - t_at, 1e-9), 1.0)
                sched = max(sched, at + int(frac * (cfg.steps - at)))
            last_sched = sched
            lr = cfg.lr * lr_factor(sched, cfg.warmup, cfg.steps, cfg.min_lr_ratio)
            for group in opt.param_groups:
                group["lr"] = lr
            before = gen.get_state() if auto else None
            while True:
                opt.zero_grad(set_to_none=True)
                try:
                    step_loss = micro_steps(loss_fn, net, gen, world, parts, precision, scaler)
                    break
                except (torch.OutOfMemoryError, MemoryError, RuntimeError) as err:
                    if not out_of_memory(err):
                        raise
                    more = more_parts(cfg.batch_size, parts)
                    if before is None or more is None:
                        msg = oom_message(err, step + 1, device, cfg.batch_size, parts, run)
                        raise TrainingError(msg) from err
                # accumulate=auto: the same step again, in smaller micro-batches (leaving the
                # except block dropped the error and the tensors its traceback held)
                opt.zero_grad(set_to_none=True)
                if device.type == "cuda":
                    torch.cuda.empty_cache()
                gen.set_state(before)
                if world.is_main:
                    print(
                        f"note: step {step + 1} did not fit in memory with micro-batches of "
                        f"{cfg.batch_size // parts}; train.accumulate=auto now uses {more} of "
                        f"{cfg.batch_size // more}"
                    )
                parts = more
            loss_sum += step_loss
            bad_loss += (~torch.isfinite(step_loss)).float()
            if scaler is not None:
                scaler.unscale_(opt)  # clip the true gradients
            grad_norm = torch.nn.utils.clip_grad_norm_(
                model.parameters(), cfg.grad_clip if cfg.grad_clip > 0 else float("inf")
            )
            if sharded:  # the global norm, as a DTensor
                grad_norm = grad_norm.full_tensor()
            done = step + 1
            if scaler is None:  # (fp16 overflows are normal: the scaler skips those steps)
                bad_grad += (~torch.isfinite(grad_norm)).float()
            if done % check_every == 0 or done in (cfg.steps, end) or done == start + 1:
                checked = check_finite(done, checked, step_loss, grad_norm)
            if scaler is not None:
                scaler.step(opt)
                scaler.update()
            else:
                opt.step()
            ema.update(model, step)
            out_of_time = False
            if cfg.max_seconds is not None:  # every rank stops at the same step: rank 0's clock
                elapsed = world.broadcast_value(clock() - c0)
                out_of_time = elapsed > cfg.max_seconds
            logging = done % cfg.log_every == 0 or done in (cfg.steps, end) or out_of_time
            saving = done % cfg.checkpoint_every == 0 or done in (cfg.steps, end) or out_of_time
            if (logging or saving) and checked < done:  # nothing unchecked reaches a checkpoint
                checked = check_finite(done, checked, step_loss, grad_norm)
            if logging:
                now = time.perf_counter()
                speed = (done - last_log_step) * bs / max(now - last_log_time, 1e-9)
                loss_value = world.mean(float(step_loss))  # the global batch's loss
                row = {
                    "step": done,
                    "loss": world.mean(float(loss_sum)) / max(done - since, 1),
                    "lr": lr,
                    "grad_norm": float(grad_norm),
                    "windows_per_s": speed,
                    "elapsed_s": now - t0,
                }
                log.write(json.dumps(row) + "\n")
                log.flush()
                # shown with the count on the bar's next line, not as a line of its own
                bar.set_postfix(loss=f"{row['loss']:.4f}", win_s=f"{speed:.0f}", refresh=False)
                loss_sum.zero_()
                since = done
                last_log_time, last_log_step = now, done
            bar.update(1)
            if saving:
                checkpoint(done)
            if out_of_time:
                end = done
                break
    seconds = time.perf_counter() - t0
    steps_run = end - start
    stopped_by = "steps" if end >= cfg.steps else "max_seconds" if out_of_time else "stop_after"
    result = FitResult(
        run,
        end,
        loss_value,
        seconds,
        steps_run * bs / max(seconds, 1e-9),
        str(device),
        precision.name,
        stopped_by,
    )
    if world.is_main:
        record = {
            "steps_planned": cfg.steps,
            "steps_done": end,
            "resumed_from": start,
            "stopped_by": stopped_by,
            "epochs": cfg.epochs,
            "global_batch": bs,
            "accumulate": parts,  # micro-batches per step (auto: the count it settled on)
            "micro_batch": cfg.batch_size // parts,
            "max_seconds": cfg.max_seconds,  # the budget of each session (resumes restart it)
            "clock": cfg.clock,  # what the budget counts: wall seconds or process CPU seconds
            "cpu_seconds": time.process_time() - cpu0,  # this process, all threads
            "stop_after": cfg.stop_after,
            "seconds": seconds,  # this session's training time
            "examples_per_s": result.windows_per_second,
            "final_loss": loss_value if math.isfinite(loss_value) else None,
            "device": result.device,
            "precision": result.precision,
        }
        atomic_write_text(run / "training.json", json.dumps(record, indent=2) + "\n")
    return result


def _nonfinite(what: str, step: int, checked: int, value: Tensor, run: Path) -> str:
    """The one-line message for a loss or gradient that became inf / NaN."""
    saved = (run / "train_state.pt").exists()
    kept = "the last good checkpoint is kept" if saved else "no checkpoint was written"
    when = f"at step {step}" if step == checked + 1 else f"between steps {checked + 1} and {step}"
    return (
        f"{what} became {float(value)} {when}; {kept} in {run}; lower train.lr, raise "
        "train.warmup or check the data for extreme values"
    )


def on_cpu(x: Any) -> Any:
    """A nested dict / list of tensors with every tensor copied to the CPU."""
    if isinstance(x, Tensor):
        return x.detach().cpu()
    if isinstance(x, dict):
        return {k: on_cpu(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return type(x)(on_cpu(v) for v in x)
    return x


def _foreign_state(run: Path, why: str) -> str:
    """The one line for a train_state.pt whose optimiser state does not fit the model."""
    return (
        f"{run / 'train_state.pt'} does not fit this model's optimiser ({why.splitlines()[0]}): "
        "it was saved by another run or config; resume the run that wrote it, or train anew"
    )
