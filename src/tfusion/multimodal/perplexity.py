"""Perplexity of a Transfusion model on text: captions read after their image, and plain text.

Both are exp(summed cross-entropy / UTF-8 bytes), so byte-level and BPE models compare. Every
sequence is read in one forward pass with its images clean (t = 0), as decoding feeds a given
image. Shapes: B batch, T sequence length, V vocabulary.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch

from tfusion.multimodal.sequences import Segment, layout
from tfusion.multimodal.tokenizer import token_window

if TYPE_CHECKING:
    from tfusion.multimodal.decode import MultimodalGenerator


def _summed_cross_entropy(
    gen: MultimodalGenerator, seqs: list[list[Segment]], spans: list[tuple[int, int]]
) -> float:
    """Sum over rows of the cross-entropy of tokens [a, b) of row i, each predicted from the
    position before it; the rows are right-padded and read in one pass."""
    batch = gen._pack(seqs, left=False)
    logits, _ = gen._forward(
        batch.tokens,
        batch.patches,
        batch.image,
        torch.zeros(batch.image.shape),
        gen.model.mask(batch.image, batch.valid),
        batch.positions,
    )  # (B, T, V)
    total = 0.0
    for i, (a, b) in enumerate(spans):
        pred, targets = logits[i, a - 1 : b - 1], batch.tokens[i, a:b]
        total += float(torch.nn.functional.cross_entropy(pred, targets, reduction="sum"))
    return total


@torch.no_grad()
def caption_perplexity(gen: MultimodalGenerator, images: np.ndarray, captions: list[str]) -> float:
    """exp(cross-entropy per byte) of the captions and EOS after BOS BOI image EOI: the
    tokens' summed cross-entropy over the captions' UTF-8 bytes + 1 (EOS) (for the byte
    tokenizer, the mean per token)."""
    patches = gen._to_patches(images)
    ids = [gen.tok.encode(c) for c in captions]
    seqs = [layout([p, c], gen.tok) for p, c in zip(patches, ids, strict=True)]
    lengths = [sum(len(s) for s in seq) for seq in seqs]
    # the caption's tokens and EOS end each (right-padded) row
    spans = [(n - len(row) - 1, n) for n, row in zip(lengths, ids, strict=True)]
    total = _summed_cross_entropy(gen, seqs, spans)
    return float(np.exp(total / sum(len(c.encode("utf-8")) + 1 for c in captions)))


@torch.no_grad()
def text_perplexity(
    gen: MultimodalGenerator, text: bytes, window: int = 128, batch: int = 32
) -> float:
    """exp(cross-entropy per byte) of plain text, read in windows of about `window` bytes
    after BOS (each window's first token is predicted from BOS alone), the way data.text
    sequences are trained."""
    plain = text.decode("utf-8", errors="ignore")
    ids = gen.tok.encode(plain)
    n_bytes = len(plain.encode("utf-8"))
    w = token_window(window, len(ids), n_bytes)
    chunks = [ids[i : i + w] for i in range(0, len(ids), w) if ids[i : i + w]]
    if not chunks:
        raise ValueError("no text to score")
    total = 0.0
    for start in range(0, len(chunks), batch):
        part = chunks[start : start + batch]
        seqs = [[[gen.tok.BOS], c] for c in part]
        total += _summed_cross_entropy(gen, seqs, [(1, 1 + len(c)) for c in part])
    return float(np.exp(total / n_bytes))


__all__ = ["caption_perplexity", "text_perplexity"]
