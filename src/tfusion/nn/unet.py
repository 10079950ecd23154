"""U-Net down and up blocks that turn a noisy image into patch tokens and tokens back into a noise
prediction (Transfusion's second image encoder/decoder variant).

The encoder downsamples by 2 per level until one position is one p x p patch, the decoder
mirrors it with skip connections from the encoder. Normalisation is a plain LayerNorm over each
feature map (GroupNorm with one group), not an adaptive one; the diffusion time enters as an
embedding added inside every residual block.
Shapes: B images, C channels, H x W pixels, p patch side, n = (H/p) (W/p) tokens, D width.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class ResBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, t_dim: int) -> None:
        super().__init__()
        self.norm1 = nn.GroupNorm(1, c_in)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1)
        self.time = nn.Linear(t_dim, c_out)
        self.norm2 = nn.GroupNorm(1, c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1)
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: Tensor, t: Tensor) -> Tensor:
        h = self.conv1(F.silu(self.norm1(x))) + self.time(t)[:, :, None, None]
        h = self.conv2(F.silu(self.norm2(h)))
        return self.skip(x) + h


class UNetPatchCoder(nn.Module):
    """encode(image (B, C, H, W), t_emb (B, T)) -> tokens (B, n, D) and skips;
    decode(tokens (B, n, D), skips, t_emb) -> image-shaped prediction (B, C, H, W)."""

    def __init__(self, channels: int, patch: int, width: int, t_dim: int, base: int = 32) -> None:
        super().__init__()
        levels = round(math.log2(patch))
        if 2**levels != patch:
            raise ValueError(f"the U-Net coder needs a power-of-two patch size, got {patch}")
        chans = [base * 2**i for i in range(levels + 1)]
        self.stem = nn.Conv2d(channels, chans[0], 3, padding=1)
        self.down_blocks = nn.ModuleList(ResBlock(chans[i], chans[i], t_dim) for i in range(levels))
        self.downs = nn.ModuleList(
            nn.Conv2d(chans[i], chans[i + 1], 3, stride=2, padding=1) for i in range(levels)
        )
        self.to_tokens = nn.Conv2d(chans[-1], width, 1)
        self.from_tokens = nn.Conv2d(width, chans[-1], 1)
        self.ups = nn.ModuleList(
            nn.Conv2d(chans[i + 1], chans[i], 3, padding=1) for i in reversed(range(levels))
        )
        self.up_blocks = nn.ModuleList(
            ResBlock(2 * chans[i], chans[i], t_dim) for i in reversed(range(levels))
        )
        self.out_norm = nn.GroupNorm(1, chans[0])
        self.out = nn.Conv2d(chans[0], channels, 3, padding=1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def encode(self, x: Tensor, t: Tensor) -> tuple[Tensor, list[Tensor]]:
        h = self.stem(x)
        skips = []
        for block, down in zip(self.down_blocks, self.downs, strict=True):
            h = block(h, t)
            skips.append(h)
            h = down(h)
        tokens = self.to_tokens(h)  # (B, D, H/p, W/p)
        return tokens.flatten(2).transpose(1, 2), skips

    def decode(self, tokens: Tensor, skips: list[Tensor], t: Tensor) -> Tensor:
        b, n, d = tokens.shape
        side = round(math.sqrt(n))
        h = self.from_tokens(tokens.transpose(1, 2).reshape(b, d, side, side))
        for up, block, skip in zip(self.ups, self.up_blocks, reversed(skips), strict=True):
            h = up(F.interpolate(h, scale_factor=2, mode="nearest"))
            h = block(torch.cat([h, skip], dim=1), t)
        return self.out(F.silu(self.out_norm(h)))
