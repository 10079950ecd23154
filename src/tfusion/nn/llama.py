"""Llama-style transformer parts: RMSNorm, SwiGLU, rotary positions (RoPE), a pre-norm block with
an optional key/value cache for decoding.

Dimension letters: B batch, T sequence, H heads, Dh head width, D width.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from tfusion.nn.attention import attention


class RMSNorm(nn.Module):
    """x / rms(x) * weight (Zhang & Sennrich 2019), computed in float32."""

    def __init__(self, dim: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: Tensor) -> Tensor:
        xf = x.float()
        out = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)
        return (out * self.weight.float()).to(x.dtype)


class SwiGLU(nn.Module):
    """w2(silu(w1 x) * w3 x) (Shazeer 2020), no biases."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.w1 = nn.Linear(dim, hidden, bias=False)
        self.w3 = nn.Linear(dim, hidden, bias=False)
        self.w2 = nn.Linear(hidden, dim, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        return self.w2(F.silu(self.w1(x)) * self.w3(x))


def rope_tables(positions: Tensor, head_dim: int, base: float = 10000.0) -> tuple[Tensor, Tensor]:
    """cos, sin (B, 1, T, Dh / 2) for integer positions (B, T)."""
    half = head_dim // 2
    freqs = base ** (-torch.arange(half, dtype=torch.float32, device=positions.device) / half)
    angles = positions.float()[..., None] * freqs  # (B, T, Dh/2)
    return angles.cos()[:, None], angles.sin()[:, None]


def apply_rope(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    """Rotate channel pairs (2i, 2i + 1) of x (B, H, T, Dh) by the position angles."""
    xf = x.float().unflatten(-1, (-1, 2))  # (B, H, T, Dh/2, 2)
    a, b = xf[..., 0], xf[..., 1]
    out = torch.stack([a * cos - b * sin, a * sin + b * cos], dim=-1)
    return out.flatten(-2).to(x.dtype)


class KVCache:
    """Keys and values of the positions seen so far, per layer: (B, H, T_seen, Dh) each."""

    def __init__(self, depth: int) -> None:
        self.keys: list[Tensor | None] = [None] * depth
        self.values: list[Tensor | None] = [None] * depth

    @property
    def length(self) -> int:
        k = self.keys[0]
        return 0 if k is None else k.shape[2]

    def append(self, layer: int, k: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
        old_k, old_v = self.keys[layer], self.values[layer]
        if old_k is not None and old_v is not None:
            k, v = torch.cat([old_k, k], dim=2), torch.cat([old_v, v], dim=2)
        self.keys[layer], self.values[layer] = k, v
        return k, v

    def truncate(self, length: int) -> None:
        """Forget every position from `length` on (e.g. the noisy patches of a finished image)."""
        for i, (k, v) in enumerate(zip(self.keys, self.values, strict=True)):
            if k is not None and v is not None:
                self.keys[i], self.values[i] = k[:, :, :length], v[:, :, :length]

    def repeat(self, times: int) -> KVCache:
        """A cache with every batch row repeated `times` times (row-major: r0, r0, ..., r1, ...)."""
        out = KVCache(len(self.keys))
        for i, (k, v) in enumerate(zip(self.keys, self.values, strict=True)):
            if k is not None and v is not None:
                out.keys[i] = k.repeat_interleave(times, 0)
                out.values[i] = v.repeat_interleave(times, 0)
        return out


class LlamaBlock(nn.Module):
    """Pre-norm block: x + attn(rmsnorm(x)) with RoPE, then x + swiglu(rmsnorm(x))."""

    def __init__(self, dim: int, heads: int, hidden: int, layer: int = 0) -> None:
        super().__init__()
        if dim % heads or (dim // heads) % 2:
            raise ValueError(f"width {dim} must split into {heads} heads of even width")
        self.heads, self.layer = heads, layer
        self.attn_norm = RMSNorm(dim)
        self.wqkv = nn.Linear(dim, 3 * dim, bias=False)
        self.wo = nn.Linear(dim, dim, bias=False)
        self.ffn_norm = RMSNorm(dim)
        self.ffn = SwiGLU(dim, hidden)

    def forward(
        self,
        x: Tensor,
        rope: tuple[Tensor, Tensor],
        mask: Tensor,
        cache: KVCache | None = None,
    ) -> Tensor:
        """x (B, T, D); mask (B, 1, T, T_keys) boolean, True = may attend; T_keys includes the
        cached positions when `cache` is given (the new keys are appended to it)."""
        b, t, d = x.shape
        q, k, v = self.wqkv(self.attn_norm(x)).view(b, t, 3, self.heads, -1).permute(2, 0, 3, 1, 4)
        q, k = apply_rope(q, *rope), apply_rope(k, *rope)
        if cache is not None:
            k, v = cache.append(self.layer, k, v)
        out = attention(q, k, v, mask)
        x = x + self.wo(out.transpose(1, 2).reshape(b, t, d))
        return x + self.ffn(self.ffn_norm(x))
