"""The diffusion training loss: one Monte-Carlo estimate on a clean batch, for any denoiser."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from tfusion.devices import to_device
from tfusion.diffusion.guidance import drop_condition
from tfusion.diffusion.objectives import Objective, add_noise
from tfusion.diffusion.schedules import Schedule
from tfusion.diffusion.variance import vlb_bits_per_dim

if TYPE_CHECKING:  # only `.slices` and `.shard` are used; training/ is a sibling core layer
    from tfusion.training.distributed import World


def diffusion_loss(
    model: Callable[..., Tensor],
    x0: Tensor,
    schedule: Schedule,
    objective: Objective,
    generator: torch.Generator | None = None,
    world: World | None = None,
    cond: Tensor | None = None,
    cond_dropout: float | None = None,
    null_cond: int | None = None,
    weights: Tensor | None = None,
    vlb_weight: float = 0.0,
) -> Tensor:
    """One Monte-Carlo estimate of the diffusion loss on a clean batch x0 (B, ...).

    Draws from `generator`, in this order: one training time per sample (`Schedule.sample_t`),
    noise eps shaped like x0 and, when `cond_dropout` is given, one uniform number per sample
    that replaces `cond` by `null_cond` with probability `cond_dropout` (drawn even at 0, so the
    generator advances the same whatever the rate). Then x_t = alpha x0 + sigma eps, the model
    predicts from (x_t, t) or (x_t, t, cond), and `objective` scores the prediction against its
    target (`weights`: per-channel scales of the error, see `Objective.loss_per_sample`).

    A model that returns twice x0's channels along dimension 1 (DiT with a learned variance:
    2C) has its prediction in the first half and the variance interpolation in the second:
    with `vlb_weight` > 0 the loss is Improved DDPM's hybrid, the objective on the first half
    plus `vlb_weight` x the variational bound term (bits per dimension, mean over the batch;
    `tfusion.diffusion.variance`), whose mean comes from the detached first half so that only
    the variance half learns from it. With `vlb_weight` = 0 the second half is not scored.

    Data parallel: with `world`, x0 and cond are this rank's slice of the global batch; the
    times, noise and dropout draws are made for the global batch (world.slices x B) and
    `world.shard`ed the same way, so the ranks together repeat one process's step.
    """
    x_t, t, target = noised(x0, schedule, objective, generator, world)
    if cond_dropout is not None:
        if cond is None or null_cond is None:
            raise ValueError("condition dropout needs `cond` and `null_cond`")
        cond = drop_condition(cond, null_cond, cond_dropout, generator, world, always_draw=True)
    if cond is not None:
        cond = to_device(cond, x0.device)
    if weights is not None:
        weights = to_device(weights, x0.device)
    out = model(x_t, t) if cond is None else model(x_t, t, cond)
    c = x0.shape[1]
    pred = out[:, :c] if out.shape[1] != c else out
    loss = objective(pred, target, weights=weights)
    if vlb_weight > 0:
        if out.shape[1] != 2 * c:
            raise ValueError(
                f"the variational bound term needs a learned variance: the model returns "
                f"{out.shape[1]} channels for {c}; train with learn_sigma or vlb_weight 0"
            )
        bits = vlb_bits_per_dim(
            schedule, objective.prediction, pred.detach(), out[:, c:], x0, x_t, t
        )
        loss = loss + vlb_weight * bits.mean()
    return loss


def noised(
    x0: Tensor,
    schedule: Schedule,
    objective: Objective,
    generator: torch.Generator | None = None,
    world: World | None = None,
) -> tuple[Tensor, Tensor, Tensor]:
    """The draws of one loss estimate: (x_t, t, target). One training time per sample, then
    noise shaped like x0, both drawn for the global batch and sharded (see `diffusion_loss`).
    The draws come from `generator` wherever it lives (tfusion's trainers keep it on the CPU,
    so every device draws the same numbers) and are moved to x0's device."""
    size = world.slices if world is not None else 1
    n = x0.shape[0] * size
    gen_device = generator.device if generator is not None else torch.device("cpu")
    t = _mine(schedule.sample_t(n, generator), world)
    eps = torch.randn((n, *x0.shape[1:]), generator=generator, device=gen_device)
    eps = to_device(_mine(eps, world), x0.device)
    # the schedule's float64 table lives on the CPU (MPS has no float64): look up, then move
    alpha, sigma = (to_device(v.float(), x0.device) for v in schedule.alpha_sigma(t.cpu()))
    t = to_device(t, x0.device)
    return add_noise(x0, eps, alpha, sigma), t, objective.target(x0, eps, alpha, sigma)


def _mine(x: Tensor, world: World | None) -> Tensor:
    """This rank's slice of a global-batch draw (all of it without a world)."""
    return x if world is None else world.shard(x)
