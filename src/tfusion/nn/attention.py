"""Multi-head self-attention on `scaled_dot_product_attention` (fused kernels, no L x L in fp32)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn


def attention(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    mask: Tensor | None = None,
    dropout: float = 0.0,
    is_causal: bool = False,
) -> Tensor:
    """`scaled_dot_product_attention`, with one CPU rule measured in benchmarks/RESULTS.md.

    Under bf16 autocast with gradients on, the CPU flash kernel's bf16 backward is slower than
    its fp32 one (5.5x at L = 24, 2.4x at 128, 1.1x at 384 for 4 heads of 32), so training runs
    attention in fp32 and returns the input dtype; inference keeps the bf16 kernel (faster).
    """
    if q.device.type == "cpu" and torch.is_grad_enabled() and torch.is_autocast_enabled("cpu"):
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
