"""A small text encoder whose pooled output conditions a diffusion model (DiT's text condition).

Byte tokens (`tfusion.data.text.ByteTokenizer`, padded with PAD) go through a token table and
`depth` bidirectional Llama blocks (RMSNorm, SwiGLU, RoPE) that attend over the caption's real
tokens; the pooled embedding is the mean of the final states over those tokens, mapped to the
model's width. A row of PAD only (an empty or dropped caption) is the "no caption" condition of
classifier-free guidance: it gets a learned null vector instead, as the null label does for
classes. It is trained together with the diffusion model (seed 003: "text embeddings from a
separate encoder are injected ... via adaptive layer normalization").
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from tfusion.nn.attention import attention
from tfusion.nn.llama import LlamaBlock, RMSNorm, rope_tables


class TextEmbedder(nn.Module):
    """tokens (B, S) int64 -> (B, out_dim): the pooled caption embedding, or the null vector for
    rows of PAD only. `tokens_and_mask` gives the per-token states for cross-attention."""

    def __init__(
        self,
        vocab: int,
        pad: int,
        out_dim: int,
        width: int = 128,
        depth: int = 2,
        heads: int = 4,
    ) -> None:
        super().__init__()
        self.pad = pad
        self.width, self.heads = width, heads
        self.token_table = nn.Embedding(vocab, width)
        hidden = 8 * ((8 * width // 3 + 7) // 8)
        self.blocks = nn.ModuleList(LlamaBlock(width, heads, hidden, i) for i in range(depth))
        self.norm = RMSNorm(width)
        self.proj = nn.Linear(width, out_dim)
        self.null = nn.Parameter(torch.zeros(out_dim))
        nn.init.normal_(self.token_table.weight, std=0.02)
        nn.init.normal_(self.null, std=0.02)

    @property
    def null_label(self) -> int:
        """The token that fills a "no caption" row (guidance's null condition)."""
        return self.pad

    def tokens_and_mask(self, tokens: Tensor) -> tuple[Tensor, Tensor]:
        """(states (B, S, width), real (B, S) bool: the caption's tokens, not padding)."""
        real = tokens != self.pad
        b, s = tokens.shape
        h = self.token_table(tokens)
        # bidirectional over the real tokens; an all-padding row attends to itself (its output
        # is replaced by the null vector, this only keeps the softmax finite)
        keys = real | ~real.any(1, keepdim=True)
        mask = (keys[:, None, None, :]).expand(b, 1, s, s)
        rope = rope_tables(torch.arange(s, device=tokens.device)[None], self.width // self.heads)
        for block in self.blocks:
            h = block(h, rope, mask)
        return self.norm(h), real

    def forward(self, tokens: Tensor) -> Tensor:
        return self.encode(tokens)[0]

    def encode(self, tokens: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """(pooled (B, out_dim), token states (B, S, width), real (B, S)): the pooled condition
        and what cross-attention reads."""
        states, real = self.tokens_and_mask(tokens)
        w = real.to(states.dtype).unsqueeze(-1)
        pooled = (states * w).sum(1) / w.sum(1).clamp_min(1.0)
        out = self.proj(pooled)
        empty = ~real.any(1, keepdim=True)
        return torch.where(empty, self.null.to(out.dtype).expand_as(out), out), states, real


class PooledEmbedder(nn.Module):
    """A caption's pooled embedding from an external, frozen encoder (B, E) -> (B, out_dim): a
    linear map, or the learned null vector for a row of NaN (an empty or dropped caption; the
    "null label" is NaN, so `torch.full_like(y, null_label)` is the null condition)."""

    def __init__(self, in_dim: int, out_dim: int) -> None:
        super().__init__()
        self.proj = nn.Linear(in_dim, out_dim)
        self.null = nn.Parameter(torch.zeros(out_dim))
        nn.init.normal_(self.null, std=0.02)

    @property
    def null_label(self) -> float:
        return float("nan")

    def forward(self, pooled: Tensor) -> Tensor:
        empty = torch.isnan(pooled).all(1, keepdim=True)
        out = self.proj(torch.nan_to_num(pooled.to(self.proj.weight.dtype)))
        return torch.where(empty, self.null.to(out.dtype).expand_as(out), out)


class CrossAttention(nn.Module):
    """Image tokens attend to a caption's token states: x (B, L, D), context (B, S, E), real
    (B, S) bool -> (B, L, D), pre-norm, its output map zero-initialised (a fresh layer adds
    nothing, as adaLN-Zero's gates). A learned null key/value is always attendable, so a
    dropped caption (no real tokens) reads the null token alone."""

    def __init__(self, dim: int, context_dim: int, heads: int) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"width {dim} is not divisible by {heads} heads")
        self.heads = heads
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.q = nn.Linear(dim, dim)
        self.kv = nn.Linear(context_dim, 2 * dim)
        self.null_kv = nn.Parameter(torch.zeros(2, dim))
        self.proj = nn.Linear(dim, dim)
        nn.init.normal_(self.null_kv, std=0.02)
        nn.init.zeros_(self.proj.weight)
        nn.init.zeros_(self.proj.bias)

    def forward(self, x: Tensor, context: Tensor, real: Tensor) -> Tensor:
        b, n, d = x.shape
        h = self.heads
        q = self.q(self.norm(x)).view(b, n, h, -1).transpose(1, 2)
        k, v = self.kv(context.to(x.dtype)).chunk(2, dim=-1)
        k = torch.cat([self.null_kv[0].to(k.dtype).expand(b, 1, d), k], 1)
        v = torch.cat([self.null_kv[1].to(v.dtype).expand(b, 1, d), v], 1)
        k, v = (z.view(b, -1, h, d // h).transpose(1, 2) for z in (k, v))
        keys = torch.cat([real.new_ones(b, 1), real], 1)[:, None, None, :]  # (B, 1, 1, 1 + S)
        out = attention(q, k, v, keys)
        return self.proj(out.transpose(1, 2).reshape(b, n, d))
