"""Transformer blocks: the MLP and the adaLN-Zero block shared by the time-series model and DiT."""

from __future__ import annotations

from torch import Tensor, nn

from tfusion.nn.attention import SelfAttention


def modulate(x: Tensor, shift: Tensor, scale: Tensor) -> Tensor:
    """Adaptive layer-norm modulation: x * (1 + scale) + shift, with (B, D) per-sample vectors."""
    return x * (1 + scale.unsqueeze(1)) + shift.unsqueeze(1)


class Mlp(nn.Module):
    """Two-layer feed-forward (names fc1/fc2 as in DiT/timm), GELU with tanh approximation."""

    def __init__(self, dim: int, hidden: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU(approximate="tanh")
        self.drop = nn.Dropout(dropout)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(self.drop(self.act(self.fc1(x))))


class AdaLNZeroBlock(nn.Module):
    """Pre-norm block whose norms are modulated by a conditioning vector c (adaLN-Zero, DiT).

    The modulation MLP maps c to six vectors: shift, scale and gate for attention, then for the
    MLP. It is zero-initialised, so every gate starts at 0 and a fresh block is the identity: the
    network starts as a stack of identities and learns how far to move from it.
    """

    def __init__(self, dim: int, heads: int, mlp_hidden: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.attn = SelfAttention(dim, heads, qkv_bias=True, dropout=dropout)
        self.norm2 = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.mlp = Mlp(dim, mlp_hidden, dropout=dropout)
        self.drop = nn.Dropout(dropout)
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(dim, 6 * dim))
        nn.init.zeros_(self.adaLN_modulation[1].weight)
        nn.init.zeros_(self.adaLN_modulation[1].bias)

    def forward(self, x: Tensor, c: Tensor, mask: Tensor | None = None) -> Tensor:
        """x (B, L, D), c (B, D) -> (B, L, D)."""
        sh1, sc1, g1, sh2, sc2, g2 = self.adaLN_modulation(c).chunk(6, dim=-1)
        x = x + g1.unsqueeze(1) * self.drop(self.attn(modulate(self.norm1(x), sh1, sc1), mask))
        return x + g2.unsqueeze(1) * self.drop(self.mlp(modulate(self.norm2(x), sh2, sc2)))


class AdaLNFinal(nn.Module):
    """Final adaLN layer: modulated norm then a zero-initialised linear map to the output."""

    def __init__(self, dim: int, out_dim: int) -> None:
        super().__init__()
        self.norm_final = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.linear = nn.Linear(dim, out_dim)
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(dim, 2 * dim))
        for layer in (self.linear, self.adaLN_modulation[1]):
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    def forward(self, x: Tensor, c: Tensor) -> Tensor:
        shift, scale = self.adaLN_modulation(c).chunk(2, dim=-1)
        return self.linear(modulate(self.norm_final(x), shift, scale))
