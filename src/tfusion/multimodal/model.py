"""Transfusion (Zhou et al. 2024): ONE transformer over text tokens and image patches.

A sequence mixes text tokens and images; every image is written BOI, its patches in raster order,
EOI. Text is embedded by a token table, each noisy image patch (p x p x C values) by a linear map
plus the embedding of its image's diffusion time. Llama blocks (RMSNorm, SwiGLU, RoPE) process the
whole sequence with attention that is causal everywhere except inside an image, where all patches
of the same image see each other. An LM head reads the next token at text positions; a linear
head reads the noise prediction at patch positions.

RoPE positions: every element of the flattened sequence (tokens, BOI, each patch, EOI) gets the
next integer, so an image of n patches takes n consecutive positions in raster order, as in the
paper's 1-D layout; the relative offset between two patches therefore encodes their raster
distance, and text after an image is n + 2 positions further on.

Dimension letters: B batch, T sequence, P patch values (p * p * C), V vocabulary, D width.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from tfusion.nn.embeddings import TimestepEmbedder, sincos_2d
from tfusion.nn.llama import KVCache, LlamaBlock, RMSNorm, rope_tables
from tfusion.nn.patchify import patchify, unpatchify
from tfusion.nn.unet import UNetPatchCoder


@dataclass(frozen=True)
class MultimodalShape:
    vocab: int  # text vocabulary including the special tokens
    patch_dim: int  # p * p * C values per image patch
    width: int = 256
    depth: int = 4
    heads: int = 4
    hidden: int = 683  # SwiGLU width (about 8/3 x width)
    encoder: str = "linear"  # linear (patch map + time embedding) | unet (U-Net down/up blocks)
    channels: int = 3  # image geometry, needed by the U-Net coder
    image_size: int = 16
    patch: int = 4
    # ablations (seed 002): causal attention inside images too (the paper's ablation; it hurts
    # text-to-image), and the time embedding added to each patch vector before the linear
    # patch map (the paper's wording) instead of to its output (tfusion's default)
    image_attention: str = "bidirectional"  # bidirectional | causal
    time_embedding: str = "after"  # after | before (linear encoder only)
    # where a patch sits in its image: "rope" only the 1-D raster offsets RoPE gives every
    # position; "sincos" also DiT's fixed 2-D sin-cos table added to each patch embedding
    patch_positions: str = "rope"  # rope | sincos (linear encoder only)


def attention_mask(image: Tensor, valid: Tensor, bidirectional: bool = True) -> Tensor:
    """(B, 1, T, T) boolean, True = query i may attend to key j.

    Causal (j <= i), plus every pair of patches of the same image (bidirectional inside an
    image; `bidirectional=False`: causal there too), never to padding keys; a padding query
    attends to itself only (no empty rows).
    """
    t = image.shape[1]
    idx = torch.arange(t, device=image.device)
    causal = idx[None, :, None] >= idx[None, None, :]  # (1, T, T)
    same = (image[:, :, None] == image[:, None, :]) & (image[:, :, None] >= 0)  # (B, T, T)
    if not bidirectional:
        same = torch.zeros_like(same)
    allowed = (causal | same) & valid[:, None, :] & valid[:, :, None]
    allowed = allowed | torch.eye(t, dtype=torch.bool, device=image.device)[None]
    return allowed[:, None]


def patch_index(image: Tensor) -> Tensor:
    """(B, T) long: each patch's raster index inside its own image (0 at text positions).

    Patches of one image are consecutive; a new image starts where the image id changes. Within
    a row the index is the running count of patches minus the count before the image's start
    (those counts never decrease, so a running maximum carries each start forward)."""
    is_patch = image >= 0
    count = is_patch.long().cumsum(1)  # patches up to and including this position
    prev = torch.cat([torch.full_like(image[:, :1], -1), image[:, :-1]], 1)
    start = is_patch & (image != prev)
    base = torch.where(start, count - 1, torch.zeros_like(count)).cummax(1).values
    return torch.where(is_patch, count - 1 - base, torch.zeros_like(count))


class MultimodalTransformer(nn.Module):
    """forward(tokens, x_t patches, image ids, per-position time, mask) -> (logits, patch preds)."""

    def __init__(self, shape: MultimodalShape) -> None:
        super().__init__()
        self.shape = shape
        d = shape.width
        self.tok_embeddings = nn.Embedding(shape.vocab, d)
        self.patch_in = nn.Linear(shape.patch_dim, d)
        if shape.time_embedding not in ("after", "before"):
            raise ValueError(f"unknown time_embedding {shape.time_embedding!r}: after | before")
        if shape.image_attention not in ("bidirectional", "causal"):
            raise ValueError(
                f"unknown image_attention {shape.image_attention!r}: bidirectional | causal"
            )
        # "before": an embedding of t added to every patch vector (P values), then the linear map
        self.before = shape.time_embedding == "before" and shape.encoder == "linear"
        self.t_embedder = TimestepEmbedder(shape.patch_dim if self.before else d)
        if shape.patch_positions not in ("rope", "sincos"):
            raise ValueError(f"unknown patch_positions {shape.patch_positions!r}: rope | sincos")
        table = None
        if shape.patch_positions == "sincos" and shape.encoder == "linear":
            grid = shape.image_size // shape.patch
            table = torch.from_numpy(sincos_2d(d, grid)).float()  # (grid^2, D), fixed
        self.pos2d: Tensor | None
        self.register_buffer("pos2d", table, persistent=False)  # not in the checkpoint
        self.layers = nn.ModuleList(
            LlamaBlock(d, shape.heads, shape.hidden, layer=i) for i in range(shape.depth)
        )
        self.norm = RMSNorm(d)
        self.lm_head = nn.Linear(d, shape.vocab, bias=False)
        self.patch_out = nn.Linear(d, shape.patch_dim)
        nn.init.normal_(self.tok_embeddings.weight, std=0.02)
        nn.init.zeros_(self.patch_out.weight)
        nn.init.zeros_(self.patch_out.bias)
        self.unet: UNetPatchCoder | None = None
        # DDP: with the U-Net some parameters sit out a step (the linear patch layers always,
        # the U-Net and time embedding on a rank whose rows hold no image)
        self.partial_graph = shape.encoder == "unet"
        if shape.encoder == "unet":
            if shape.patch_dim != shape.patch**2 * shape.channels:
                raise ValueError("patch_dim must be patch^2 x channels for the U-Net coder")
            self.unet = UNetPatchCoder(shape.channels, shape.patch, d, d)
        elif shape.encoder != "linear":
            raise ValueError(f"unknown image encoder {shape.encoder!r}; use linear or unet")

    def embed(
        self, tokens: Tensor, patches: Tensor, image: Tensor, t: Tensor
    ) -> tuple[Tensor, tuple | None]:
        """Inputs (B, T, D): token embeddings at text; at patches the linear patch map plus the
        time embedding, or the U-Net encoder's tokens (whole images; context for the decoder)."""
        is_patch = (image >= 0)[..., None]
        text = self.tok_embeddings(tokens.clamp(min=0))
        b, n = image.shape
        if self.unet is None:
            time = self.t_embedder(t.reshape(-1)).view(b, n, -1)
            if self.before:
                pix = self.patch_in(patches + time.to(patches.dtype))
            else:
                pix = self.patch_in(patches) + time
            if self.pos2d is not None:
                pix = pix + self.pos2d[patch_index(image)].to(pix.dtype)
            return torch.where(is_patch, pix, text), None
        sel = image >= 0
        count = int(sel.sum())
        if count == 0:
            return text, None
        per = (self.shape.image_size // self.shape.patch) ** 2
        groups = count // per
        flat = patches[sel].view(groups, per, -1)  # images are whole within one call
        s = self.shape.image_size
        images = unpatchify(flat, self.shape.patch, s, s)  # (G, C, S, S)
        temb = self.t_embedder(t[sel].view(groups, per)[:, 0])
        enc, skips = self.unet.encode(images, temb)
        h = text.clone()
        h[sel] = enc.reshape(count, -1).to(h.dtype)
        return h, (sel, skips, temb, groups)

    def mask(self, image: Tensor, valid: Tensor) -> Tensor:
        """The attention mask of this model (its shape.image_attention)."""
        return attention_mask(image, valid, self.shape.image_attention == "bidirectional")

    def patch_head(self, h: Tensor, ctx: tuple | None) -> Tensor:
        """Noise predictions (B, T, P) at patch positions (zeros elsewhere with the U-Net)."""
        if self.unet is None:
            return self.patch_out(h)
        out = h.new_zeros(*h.shape[:2], self.shape.patch_dim)
        if ctx is None:
            return out
        sel, skips, temb, groups = ctx
        per = (self.shape.image_size // self.shape.patch) ** 2
        img = self.unet.decode(h[sel].view(groups, per, -1), skips, temb)  # (G, C, S, S)
        out[sel] = patchify(img, self.shape.patch).reshape(groups * per, -1).to(out.dtype)
        return out

    def forward(
        self,
        tokens: Tensor,
        patches: Tensor,
        image: Tensor,
        t: Tensor,
        mask: Tensor,
        positions: Tensor,
        cache: KVCache | None = None,
    ) -> tuple[Tensor, Tensor]:
        """tokens (B, T), patches (B, T, P) noisy, image (B, T), t (B, T) time of each position
        (ignored at text), mask (B, 1, T, T_keys), positions (B, T) -> logits (B, T, V) and
        patch predictions (B, T, P)."""
        h, ctx = self.embed(tokens, patches, image, t)
        rope = rope_tables(positions, self.shape.width // self.shape.heads)
        for layer in self.layers:
            h = layer(h, rope, mask, cache)
        h = self.norm(h)
        return self.lm_head(h), self.patch_head(h, ctx)
