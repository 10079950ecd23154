"""Condition dropout for training and classifier-free guidance for sampling."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import Tensor

if TYPE_CHECKING:  # only `.slices` and `.shard` are used; training/ is a sibling core layer
    from tfusion.training.distributed import World


def drop_condition(
    labels: Tensor,
    null_label: int,
    p: float,
    generator: torch.Generator | None = None,
    world: World | None = None,
    always_draw: bool = False,
) -> Tensor:
    """Replace each label by `null_label` with probability p (trains the unconditional model).

    `labels` (B,) or (B, ...): a row (say a caption's tokens) is dropped whole, all its entries
    set to `null_label`. One uniform number is drawn per row, unless p <= 0 and not
    `always_draw` (then nothing is drawn and the labels come back as they are). With `world`,
    `labels` are this rank's share of a global batch: the numbers are drawn for the global
    batch (world.slices x as many rows) and `world.shard`ed, so every rank drops what one
    process would.
    """
    if p <= 0 and not always_draw:
        return labels
    # Draw on the generator's device (CPU by default) so a seed gives the same mask everywhere,
    # then move the mask to the labels (which may live on a GPU).
    device = generator.device if generator is not None else labels.device
    rows = labels.shape[0] * (1 if world is None else world.slices)
    u = torch.rand(rows, generator=generator, device=device)
    if world is not None:
        u = world.shard(u)
    drop = (u < p).to(labels.device).view(-1, *([1] * (labels.dim() - 1)))
    return torch.where(drop, torch.full_like(labels, null_label), labels)


def classifier_free_guidance(
    model: Callable[[Tensor, Tensor, Tensor], Tensor], cond: Tensor, null_cond: Tensor, scale: float
) -> Callable[[Tensor, Tensor], Tensor]:
    """A denoiser (x, t) -> u + scale (c - u), with c and u from ONE batched pass.

    Guidance is applied to the whole prediction (every channel). scale = 1 is the conditional model.
    """

    def denoise(x: Tensor, t: Tensor) -> Tensor:
        if scale == 1.0:
            return model(x, t, cond)
        out = model(torch.cat([x, x]), torch.cat([t, t]), torch.cat([cond, null_cond]))
        c, u = out.chunk(2)
        return u + scale * (c - u)

    return denoise


def class_balanced_labels(n: int, classes: int) -> np.ndarray:
    """n labels cycling through the classes 0, 1, ..., classes - 1, 0, 1, ..."""
    return np.arange(n, dtype=np.int64) % classes
