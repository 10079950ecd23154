"""Transformer building blocks with no diffusion knowledge."""

from tfusion.nn.attention import SelfAttention
from tfusion.nn.blocks import AdaLNFinal, AdaLNZeroBlock, Mlp, modulate
from tfusion.nn.embeddings import LabelEmbedder, TimestepEmbedder, position_table, sinusoidal

__all__ = [
    "AdaLNFinal",
    "AdaLNZeroBlock",
    "LabelEmbedder",
    "Mlp",
    "SelfAttention",
    "TimestepEmbedder",
    "modulate",
    "position_table",
    "sinusoidal",
]
