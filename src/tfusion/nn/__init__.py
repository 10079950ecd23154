"""Transformer building blocks with no diffusion knowledge."""

from tfusion.nn.attention import SelfAttention
from tfusion.nn.blocks import AdaLNFinal, AdaLNZeroBlock, Mlp, modulate
from tfusion.nn.embeddings import LabelEmbedder, TimestepEmbedder, position_table, sinusoidal
from tfusion.nn.patchify import patchify, unpatchify

__all__ = [
    "AdaLNFinal",
    "AdaLNZeroBlock",
    "LabelEmbedder",
    "Mlp",
    "SelfAttention",
    "TimestepEmbedder",
    "modulate",
    "patchify",
    "position_table",
    "sinusoidal",
    "unpatchify",
]
