"""Sinusoidal tables and the small embedders built on them (timestep, label)."""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor, nn


def sinusoidal(
    x: Tensor, dim: int, max_period: float = 10000.0, interleave: bool = False
) -> Tensor:
    """Sin/cos features of real values x (B,) -> (B, dim).

    interleave=True is the Transformer/TransFusion table (sin at even, cos at odd columns);
    False is DiT's layout ([cos | sin] halves). Both use frequencies max_period^(-2i/dim).
    """
    half = dim // 2
    steps = torch.arange(half, dtype=torch.float32, device=x.device)  # built where x is
    freqs = torch.exp(-math.log(max_period) * steps / half)
    args = x.float()[:, None] * freqs[None]  # (B, half)
    if interleave:
        out = torch.stack([torch.sin(args), torch.cos(args)], dim=-1).flatten(1)
    else:
        out = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
    if dim % 2:
        out = torch.cat([out, torch.zeros_like(out[:, :1])], dim=-1)
    return out


def position_table(length: int, dim: int, device: torch.device | None = None) -> Tensor:
    """The fixed sinusoidal position table (L, D) of Vaswani et al. (interleaved sin/cos).

    An odd D takes the first D columns of the D + 1 table, as TransFusion's scoring code builds
    it (its probes are D = C // 2 wide: D = 1 at C = 3, where a table of D // 2 = 0 frequencies
    would be empty, and 3 at C = 6)."""
    pos = torch.arange(length, dtype=torch.float32, device=device)
    if dim % 2:
        return sinusoidal(pos, dim + 1, interleave=True)[:, :dim]
    return sinusoidal(pos, dim, interleave=True)


def sincos_2d(width: int, grid: int) -> np.ndarray:
    """Fixed 2-D sin-cos positions (grid * grid, width), tokens in row-major (row, column) order.

    The first half of the channels encodes the column, the second half the row, each as
    [sin | cos] of position * 10000^(-i / (width / 4)) (the layout of DiT's and MAE's tables).
    """
    if width % 4:
        raise ValueError(f"the width must be divisible by 4 for 2-D positions, got {width}")
    quarter = width // 4
    omega = 1.0 / 10000 ** (np.arange(quarter, dtype=np.float64) / quarter)  # (D/4,)
    rows, cols = np.meshgrid(np.arange(grid), np.arange(grid), indexing="ij")

    def axis(pos: np.ndarray) -> np.ndarray:
        out = pos.reshape(-1)[:, None].astype(np.float64) * omega[None]  # (N, D/4)
        return np.concatenate([np.sin(out), np.cos(out)], axis=1)  # (N, D/2)

    return np.concatenate([axis(cols), axis(rows)], axis=1)  # (N, D)


class TimestepEmbedder(nn.Module):
    """Diffusion time -> vector: sinusoidal features of (t * time_scale), then Linear-SiLU-Linear.

    Parameter names (`mlp.0`, `mlp.2`) match DiT's released checkpoints.
    """

    def __init__(
        self,
        dim: int,
        freq_dim: int = 256,
        time_scale: float = 1000.0,
        interleave: bool = False,
    ) -> None:
        super().__init__()
        self.freq_dim, self.time_scale, self.interleave = freq_dim, time_scale, interleave
        self.mlp = nn.Sequential(nn.Linear(freq_dim, dim), nn.SiLU(), nn.Linear(dim, dim))

    def forward(self, t: Tensor) -> Tensor:
        """t (B,) in [0, 1] -> (B, D)."""
        feats = sinusoidal(t * self.time_scale, self.freq_dim, interleave=self.interleave)
        return self.mlp(feats.to(self.mlp[0].weight.dtype))


class LabelEmbedder(nn.Module):
    """Class label -> vector, with one extra "null" row for classifier-free guidance."""

    def __init__(self, num_classes: int, dim: int) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.embedding_table = nn.Embedding(num_classes + 1, dim)

    @property
    def null_label(self) -> int:
        return self.num_classes

    def forward(self, labels: Tensor) -> Tensor:
        return self.embedding_table(labels)
