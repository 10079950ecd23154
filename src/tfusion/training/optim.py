"""Optimiser and learning-rate schedule (linear warmup, then cosine to a floor)."""

from __future__ import annotations

import math

import torch
from torch import nn

from tfusion.config import TrainConfig


def lr_factor(step: int, warmup: int, total: int, min_ratio: float) -> float:
    """Multiplier of the base LR at `step` (0-based): linear warmup, then cosine to `min_ratio`."""
    if warmup > 0 and step < warmup:
        return (step + 1) / warmup
    span = max(total - warmup, 1)
    progress = min(max(step - warmup, 0) / span, 1.0)
    return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


def make_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.AdamW:
    """AdamW; weight decay on matrices only (not on biases, norms or embeddings' 1-D params).
    On CUDA the fused kernel (one launch for all parameters); elsewhere PyTorch's default.
    Sharded (DTensor) parameters keep the default."""
    decay = [p for p in model.parameters() if p.requires_grad and p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.requires_grad and p.dim() < 2]
    groups = [
        {"params": decay, "weight_decay": cfg.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    params = decay + no_decay
    fused = bool(params) and all(
        p.device.type == "cuda" and type(p) is nn.Parameter for p in params
    )
    return torch.optim.AdamW(
        groups, lr=cfg.lr, betas=cfg.betas, eps=1e-8, fused=True if fused else None
    )
