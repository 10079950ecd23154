"""Multi-head self-attention on `scaled_dot_product_attention` (fused kernels, no L x L in fp32)."""

from __future__ import annotations

import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn


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
        out = F.scaled_dot_product_attention(
            q, k, v, attn_mask=mask, dropout_p=p, is_causal=is_causal
        )
        return self.proj(rearrange(out, "b h l d -> b l (h d)"))
