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

from tfusion.devices import to_device
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
        attributes: int = 0,
    ) -> None:
        super().__init__()
        self.features, self.width, self.arch, self.classes = features, width, arch, classes
        self.attributes = attributes
        if classes:  # label embedding added to the step embedding; id `classes` = no label
            self.y_embedder = nn.Embedding(classes + 1, width)
        if attributes:
            # panels: the attribute vector (B, A) is embedded and added to the step embedding;
            # a NaN row is "no condition" (a learned null embedding, for guidance). A second,
            # small denoiser learns the attribute vectors themselves (drawn before sequences).
            self.a_embedder = nn.Sequential(
                nn.Linear(attributes, width), nn.SiLU(), nn.Linear(width, width)
            )
            self.a_null = nn.Parameter(torch.zeros(width))
            aw = min(width, 128)
            self.attr_model = TimeSeriesDenoiser(
                attributes, aw, 3, max(1, aw // 32), 4 * aw, 0.0, "modern", time_scale
            )
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
    def from_config(
        cls, cfg: ModelConfig, features: int, classes: int = 0, attributes: int = 0
    ) -> TimeSeriesDenoiser:
        """Build from a (possibly partial) ModelConfig; None fields come from its preset."""
        r = resolve_model(cfg)
        return cls(
            features,
            r.width,
            r.depth,
            r.heads,
            r.ff,
            r.dropout,
            r.arch,
            classes=classes,
            attributes=attributes,
        )

    def forward(
        self,
        x: Tensor,
        t: Tensor,
        cond: Tensor | None = None,
        mask: Tensor | None = None,
        attr: tuple[Tensor, Tensor] | None = None,
    ) -> Tensor | tuple[Tensor, Tensor]:
        """x (B, L, C) noisy window, t (B,) diffusion time in [0, 1] -> prediction (B, L, C).

        `cond`: (B,) class ids of a labelled model (None or id `classes`: unconditional), or
        (B, A) attribute vectors of a panel model (None or a NaN row: unconditional). `mask`
        (B, L) bool marks the real steps of padded whole sequences (padding is not attended
        to). `attr` = (a_t (B', 1, A), t_a (B',)): also denoise attribute vectors with the
        attribute model, returning (prediction, attribute prediction) from one call (so one
        data-parallel forward covers both in training)."""
        length = x.shape[1]
        # conditions built on the CPU (labels, masks, guidance's null rows) follow x
        t = to_device(t, x.device)
        cond = None if cond is None else to_device(cond, x.device)
        mask = None if mask is None else to_device(mask, x.device)
        h = self.in_proj(x)  # (B, L, D)
        temb = self.t_embedder(t)  # (B, D)
        if self.classes:
            if cond is None:
                cond = torch.full((x.shape[0],), self.classes, dtype=torch.long, device=x.device)
            temb = temb + self.y_embedder(cond)
        elif self.attributes:
            temb = temb + self._attribute_embedding(cond, x.shape[0], temb.dtype, x.device)
        temb = temb.to(h.dtype)
        if self.arch == "paper":
            h = torch.cat([temb[:, None], h], dim=1)  # step token first: (B, 1 + L, D)
            h = self.pos_drop(h + position_table(length + 1, self.width, h.device).to(h.dtype))
            pad = None
            if mask is not None:  # the step token is always there
                pad = ~torch.cat([torch.ones_like(mask[:, :1]), mask], dim=1)
            h = self.encoder(h, src_key_padding_mask=pad)[:, 1:]  # drop the step token
            out = self.out_proj(h)
        else:
            h = self.pos_drop(h + position_table(length, self.width, h.device).to(h.dtype))
            keys = None if mask is None else mask[:, None, None, :]  # (B, 1, 1, L)
            for block in self.blocks:
                h = block(h, temb, keys)
            out = self.final(h, temb)
        if attr is None:
            return out
        return out, self.attr_model(*attr)

    def _attribute_embedding(
        self, cond: Tensor | None, batch: int, dtype: torch.dtype, device: torch.device
    ) -> Tensor:
        """(B, D): the embedded attribute vectors, the null embedding for NaN rows or None."""
        null = self.a_null.to(dtype).expand(batch, -1)
        if cond is None:
            return null
        missing = torch.isnan(cond).any(dim=1, keepdim=True)
        emb = self.a_embedder(torch.nan_to_num(cond.float(), nan=0.0)).to(dtype)
        return torch.where(missing, null, emb)


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
