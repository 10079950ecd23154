"""Multi-head self-attention on `scaled_dot_product_attention` (fused kernels, no L x L in fp32)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn

FP32_KEYS = 256  # up to this many keys, inference attention is faster in fp32 on CPU


def attention(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    mask: Tensor | None = None,
    dropout: float = 0.0,
    is_causal: bool = False,
) -> Tensor:
    """`scaled_dot_product_attention`, with one CPU rule measured in benchmarks/RESULTS.md.

    Under bf16 autocast the CPU flash kernel's bf16 backward is slower than its fp32 one (5.5x at
    L = 24, 2.4x at 128, 1.1x at 384 for 4 heads of 32; 29x at 16 tokens), and its bf16 forward
    is slower up to ~256 keys. So attention runs in fp32 (returning the input dtype) when
    training, or when there are at most 256 keys; long-sequence inference keeps the bf16 kernel.
    """
    if (
        q.device.type == "cpu"
        and torch.is_autocast_enabled("cpu")
        and (torch.is_grad_enabled() or k.shape[-2] <= FP32_KEYS)
    ):
        with torch.autocast("cpu", enabled=False):
            out = F.scaled_dot_product_attention(
                q.float(),
                k.float(),
                v.float(),
                attn_mask=mask,
                dropout_p=dropout,
                is_causal=is_causal,
            )
        return out.to(q.dtype)
    return F.scaled_dot_product_attention(
        q, k, v, attn_mask=mask, dropout_p=dropout, is_causal=is_causal
    )


class SelfAttention(nn.Module):
    """Fused-QKV multi-head self-attention; names `qkv` and `proj` as in DiT/timm."""

    def __init__(self, dim: int, heads: int, qkv_bias: bool = True, dropout: float = 0.0) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"width {dim} is not divisible by {heads} heads")
        self.heads = heads
        self.dropout = dropout
        self.qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: Tensor, mask: Tensor | None = None, is_causal: bool = False) -> Tensor:
        """x (B, L, D) -> (B, L, D); mask is boolean (True = may attend), broadcastable to
        (B, H, L, L)."""
        q, k, v = rearrange(self.qkv(x), "b l (three h d) -> three b h l d", three=3, h=self.heads)
        p = self.dropout if self.training else 0.0
        out = attention(q, k, v, mask, p, is_causal)
        return self.proj(rearrange(out, "b h l d -> b l (h d)"))
