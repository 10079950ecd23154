"""The TransFusion denoiser: a transformer encoder over the time axis of a noisy window.

Dimensions: B batch, L window length, C features (channels), D model width.

Two architectures share one interface, `model(x_t (B, L, C), t (B,)) -> (B, L, C)`:

- `paper`: the published TransFusion network (Sikder et al. 2023). Linear(C -> D) input
  projection; the diffusion step becomes a token (sinusoidal table -> Linear-SiLU-Linear) put in
  front of the sequence; sinusoidal positions added (then dropout); post-LN
  `nn.TransformerEncoderLayer`s with GELU; the step token is dropped and Linear(D -> C) maps back.
- `modern`: pre-norm blocks with adaLN-Zero timestep conditioning (DiT), fused-QKV attention on
  `scaled_dot_product_attention`, a zero-initialised adaLN output layer. Faster and better on CPU.

Positions come from a sinusoidal formula, not a learned table, so any window length works.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from tfusion.nn import AdaLNFinal, AdaLNZeroBlock, TimestepEmbedder, position_table
from tfusion.timeseries.config import ModelConfig
from tfusion.timeseries.presets import resolve_model


class TimeSeriesDenoiser(nn.Module):
    """TransFusion denoiser for windows (B, L, C); `arch` picks the paper or the modern blocks."""

    def __init__(
        self,
        features: int,
        width: int = 256,
        depth: int = 6,
        heads: int = 8,
        ff: int = 1024,
        dropout: float = 0.1,
        arch: str = "paper",
        time_scale: float = 1000.0,
        classes: int = 0,
    ) -> None:
        super().__init__()
        self.features, self.width, self.arch, self.classes = features, width, arch, classes
        if classes:  # label embedding added to the step embedding; id `classes` = no label
            self.y_embedder = nn.Embedding(classes + 1, width)
        self.in_proj = nn.Linear(features, width)
        self.pos_drop = nn.Dropout(dropout)
        if arch == "paper":
            # The step embedding reads the same interleaved sinusoidal table as the positions.
            self.t_embedder = TimestepEmbedder(
                width, freq_dim=width, time_scale=time_scale, interleave=True
            )
            layer = nn.TransformerEncoderLayer(
                width,
                heads,
                dim_feedforward=ff,
                dropout=dropout,
                activation="gelu",
                batch_first=True,
                norm_first=False,
            )
            self.encoder = nn.TransformerEncoder(layer, depth, enable_nested_tensor=False)
            self.out_proj = nn.Linear(width, features)
        elif arch == "modern":
            self.t_embedder = TimestepEmbedder(width, freq_dim=256, time_scale=time_scale)
            self.blocks = nn.ModuleList(
                AdaLNZeroBlock(width, heads, ff, dropout) for _ in range(depth)
            )
            self.final = AdaLNFinal(width, features)
        else:
            raise ValueError(f"unknown arch {arch!r}")

    @classmethod
    def from_config(cls, cfg: ModelConfig, features: int, classes: int = 0) -> TimeSeriesDenoiser:
        """Build from a (possibly partial) ModelConfig; None fields come from its preset."""
        r = resolve_model(cfg)
        return cls(features, r.width, r.depth, r.heads, r.ff, r.dropout, r.arch, classes=classes)

    def forward(self, x: Tensor, t: Tensor, cond: Tensor | None = None) -> Tensor:
        """x (B, L, C) noisy window, t (B,) diffusion time in [0, 1], cond (B,) class ids of a
        labelled model (None or id `classes`: unconditional) -> prediction (B, L, C)."""
        length = x.shape[1]
        h = self.in_proj(x)  # (B, L, D)
        temb = self.t_embedder(t)  # (B, D)
        if self.classes:
            if cond is None:
                cond = torch.full((x.shape[0],), self.classes, dtype=torch.long, device=x.device)
            temb = temb + self.y_embedder(cond)
        temb = temb.to(h.dtype)
        if self.arch == "paper":
            h = torch.cat([temb[:, None], h], dim=1)  # step token first: (B, 1 + L, D)
            h = self.pos_drop(h + position_table(length + 1, self.width, h.device).to(h.dtype))
            h = self.encoder(h)[:, 1:]  # drop the step token: (B, L, D)
            return self.out_proj(h)
        h = self.pos_drop(h + position_table(length, self.width, h.device).to(h.dtype))
        for block in self.blocks:
            h = block(h, temb)
        return self.final(h, temb)


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
