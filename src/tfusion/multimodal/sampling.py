"""Text sampling rules of Transfusion decoding: greedy, temperature, top-k and top-p, and the
ranges of their settings (checked for the config and for direct calls alike)."""

from __future__ import annotations

import torch
from torch import Tensor

from tfusion.errors import ConfigError


def check_sampling(
    temperature: float, top_k: int | None, top_p: float | None, prefix: str = ""
) -> None:
    """One-line errors for text sampling settings outside their ranges (`prefix`: the config
    section the values came from, e.g. "sample.")."""
    if not temperature >= 0:
        raise ConfigError(f"{prefix}temperature must be >= 0 (0 = greedy), got {temperature}")
    if top_k is not None and top_k < 1:
        raise ConfigError(f"{prefix}top_k must be >= 1 or None, got {top_k}")
    if top_p is not None and not 0 < top_p <= 1:
        raise ConfigError(f"{prefix}top_p must be in (0, 1] or None, got {top_p}")


def sample_token(
    logits: Tensor,
    temperature: float,
    top_k: int | None,
    top_p: float | None,
    generator: torch.Generator,
) -> Tensor:
    """Next token per row: argmax at temperature 0, else a draw from the tempered, top-k and
    top-p (nucleus) truncated distribution."""
    check_sampling(temperature, top_k, top_p)
    if temperature == 0:
        return logits.argmax(-1)
    z = logits.float() / temperature
    if top_k is not None and top_k < z.shape[-1]:
        # exactly k tokens, ties at the k-th logit broken by topk's order
        keep = torch.zeros_like(z, dtype=torch.bool).scatter(
            -1, z.topk(top_k, dim=-1).indices, True
        )
        z = z.masked_fill(~keep, float("-inf"))
    if top_p is not None and top_p < 1.0:
        sorted_z, order = z.sort(dim=-1, descending=True)
        probs = sorted_z.softmax(-1)
        # keep the smallest prefix whose mass reaches top_p (always the first token)
        drop = probs.cumsum(-1) - probs >= top_p
        sorted_z = sorted_z.masked_fill(drop, float("-inf"))
        z = torch.full_like(z, float("-inf")).scatter(-1, order, sorted_z)
    probs = z.softmax(-1)
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)


__all__ = ["check_sampling", "sample_token"]
