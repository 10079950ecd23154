"""Exponential moving average of model weights."""

from __future__ import annotations

import copy

import torch
from torch import nn


class EMA:
    """Shadow copy of a model whose weights track an exponential moving average.

    The effective decay warms up as min(decay, (1 + n) / (10 + n)) so early averages are not
    dominated by the random initialisation (`warmup=False`: `decay` throughout, as DiT). A
    decay of 0 turns averaging off: the shadow is a copy of the raw weights after every update
    (what samples from the raw weights need).
    """

    def __init__(self, model: nn.Module, decay: float = 0.999, warmup: bool = True) -> None:
        self.decay = decay
        self.warmup = warmup  # False: `decay` from the first update
        self.model = copy.deepcopy(model).eval()
        self.model.requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module, step: int) -> None:
        """Blend the current weights of `model` into the shadow (call after each optimiser step)."""
        ema_p = list(self.model.parameters())
        cur_p = list(model.parameters())
        if self.decay == 0:  # no averaging: copied, so bit for bit the raw weights
            for e, c in zip(ema_p, cur_p, strict=True):
                e.copy_(c)
        else:
            d = min(self.decay, (1 + step) / (10 + step)) if self.warmup else self.decay
            torch._foreach_lerp_(ema_p, cur_p, 1 - d)
        for eb, b in zip(self.model.buffers(), model.buffers()):
            eb.copy_(b)
