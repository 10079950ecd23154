"""Micro-batches (train.accumulate): one optimiser step computed in parts whose gradients add up
to the whole batch's, and what to do when a step does not fit in memory."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path

import torch
from torch import Tensor, nn

from tfusion.devices import Precision
from tfusion.errors import ConfigError
from tfusion.training.distributed import World

# (model, generator, world) -> scalar loss. The loss draws the GLOBAL batch from the generator
# and computes `world.shard`'s slice of it: this rank's, or this micro-batch's of this rank's
# (train.accumulate; see tfusion.training.distributed), as the mean over that slice.
LossFn = Callable[[nn.Module, torch.Generator, World], Tensor]


def with_world(loss_fn: Callable[..., Tensor], parts: int) -> tuple[LossFn, bool]:
    """`loss_fn` as a LossFn, and whether it can be cut into micro-batches. A loss written for
    (model, generator) alone computes the whole batch: it runs as it is, and cannot be cut
    (a ConfigError if `parts` > 1; train.accumulate=auto leaves it whole)."""
    try:
        params = inspect.signature(loss_fn).parameters.values()
    except (TypeError, ValueError):  # no signature to read (a builtin): take it as a LossFn
        return loss_fn, True
    kinds = [p.kind for p in params]
    Param = inspect.Parameter
    positional = sum(k in (Param.POSITIONAL_ONLY, Param.POSITIONAL_OR_KEYWORD) for k in kinds)
    if positional >= 3 or Param.VAR_POSITIONAL in kinds:
        return loss_fn, True
    if parts > 1:
        raise ConfigError(
            "train.accumulate needs a loss function that takes (model, generator, world) and "
            "computes world.shard's slice of the batch; this one takes (model, generator)"
        )

    def whole(model: nn.Module, gen: torch.Generator, world: World) -> Tensor:
        return loss_fn(model, gen)

    return whole, False


def micro_steps(
    loss_fn: LossFn,
    net: nn.Module,
    gen: torch.Generator,
    world: World,
    parts: int,
    precision: Precision,
    scaler: torch.amp.GradScaler | None,
) -> Tensor:
    """The forward and backward passes of one step, in `parts` micro-batches whose gradients
    add up to the whole batch's; returns the step's loss (detached). Every micro-batch starts
    from the same generator state, so each draws the whole global batch and computes its own
    slice, and the generator ends where one pass over the whole batch leaves it. DDP
    synchronises gradients on the last micro-batch only."""
    start = gen.get_state() if parts > 1 else None
    total: Tensor | None = None
    for j in range(parts):
        if start is not None:
            gen.set_state(start)
        last = j == parts - 1
        sync = nullcontext() if last or not hasattr(net, "no_sync") else net.no_sync()
        with sync:
            with precision.autocast():
                loss = loss_fn(net, gen, world.micro(j, parts) if parts > 1 else world)
            if parts > 1:
                loss = loss / parts
            value = loss.detach().float()
            total = value if total is None else total + value
            (scaler.scale(loss) if scaler is not None else loss).backward()
    assert total is not None
    return total


def out_of_memory(err: BaseException) -> bool:
    """Whether an error from a training step is an allocation failure (CUDA, MPS or CPU)."""
    if isinstance(err, torch.OutOfMemoryError | MemoryError):
        return True
    text = str(err).lower()
    return "out of memory" in text or "can't allocate memory" in text


def more_parts(batch: int, parts: int) -> int | None:
    """The smallest micro-batch count that at least halves the micro-batch (a divisor of the
    batch at least twice `parts`); None when the micro-batch is one example already."""
    return next((k for k in range(2 * parts, batch + 1) if batch % k == 0), None)


def oom_message(
    err: BaseException, step: int, device: torch.device, batch: int, parts: int, run: Path
) -> str:
    """The one-line message for a step that did not fit in memory: which memory, the
    micro-batch, and the micro-batch count to try (`more_parts`)."""
    text = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    host = isinstance(err, MemoryError) or "can't allocate memory" in text.lower()
    where = "host (CPU)" if host or device.type == "cpu" else device.type
    more = more_parts(batch, parts)
    saved = (run / "train_state.pt").exists()
    kept = f"the last checkpoint is kept in {run}" if saved else "no checkpoint was written"
    fix = (
        f"set train.accumulate={more} (the same steps in micro-batches of {batch // more}; "
        "--resume continues from the checkpoint) or lower train.batch_size"
        if more is not None
        else "lower train.batch_size or model.preset"
    )
    return (
        f"training step {step} ran out of {where} memory with micro-batches of {batch // parts} "
        f"(train.batch_size={batch}, train.accumulate={parts}: {text[:160]}); {kept}; {fix}"
    )
