"""Mixed text-and-image sequences: lay out BOS .. BOI patches EOI .. EOS, pad.

A sequence is a list of segments: a list of token ids (text) or an array of patches (n, P) (an
image, already patchified by `tfusion.nn.patchify`). `pack` flattens a batch of them into a
`Packed` batch, left- or right-padded (its RoPE positions count only the real elements of each
row).
Shapes: N images, C channels, H x W pixels, p patch side, P = p * p * C.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from tfusion.errors import DataError
from tfusion.multimodal.tokenizer import ByteTokenizer


@dataclass
class Packed:
    """A padded batch of mixed sequences.

    tokens (B, T) int64: text ids (anything at patch positions); patches (B, T, P) float32: clean
    patch values at patch positions (0 elsewhere); image (B, T) int64: the image number within
    its sequence at patch positions, -1 at text and padding; valid (B, T) bool: False at padding.
    """

    tokens: Tensor
    patches: Tensor
    image: Tensor
    valid: Tensor

    @property
    def positions(self) -> Tensor:
        """RoPE positions (B, T): 0, 1, 2, ... over the valid elements of each row, so a
        left-padded row has the positions of the same sequence alone."""
        return (self.valid.long().cumsum(1) - 1).clamp(min=0)


Segment = list[int] | np.ndarray


def layout(segments: Sequence[Segment], tok: ByteTokenizer, eos: bool = True) -> list[Segment]:
    """BOS, the segments with every image wrapped in BOI .. EOI, then EOS (optional)."""
    out: list[Segment] = [[tok.BOS]]
    for seg in segments:
        if isinstance(seg, np.ndarray):
            out += [[tok.BOI], seg, [tok.EOI]]
        else:
            out.append(list(seg))
    if eos:
        out.append([tok.EOS])
    return out


def pack(
    sequences: Sequence[Sequence[Segment]],
    patch_dim: int,
    pad_id: int,
    left: bool = False,
) -> Packed:
    """A padded batch; images are numbered 0, 1, ... in each row."""
    rows = []
    for segs in sequences:
        tokens: list[int] = []
        patches: list[np.ndarray] = []
        image: list[int] = []
        k = 0
        for seg in segs:
            if isinstance(seg, np.ndarray):
                if seg.ndim != 2 or seg.shape[1] != patch_dim:
                    raise DataError(f"image patches must be (n, {patch_dim}), got {seg.shape}")
                tokens += [0] * len(seg)
                patches.append(seg.astype(np.float32))
                image += [k] * len(seg)
                k += 1
            else:
                tokens += [int(t) for t in seg]
                patches.append(np.zeros((len(seg), patch_dim), dtype=np.float32))
                image += [-1] * len(seg)
        rows.append(
            (tokens, np.concatenate(patches) if patches else np.zeros((0, patch_dim)), image)
        )
    t = max(len(r[0]) for r in rows)
    b = len(rows)
    tokens_t = torch.full((b, t), pad_id, dtype=torch.long)
    patches_t = torch.zeros(b, t, patch_dim)
    image_t = torch.full((b, t), -1, dtype=torch.long)
    valid = torch.zeros(b, t, dtype=torch.bool)
    for i, (tk, pt, im) in enumerate(rows):
        n = len(tk)
        sl = slice(t - n, t) if left else slice(0, n)
        tokens_t[i, sl] = torch.tensor(tk, dtype=torch.long)
        patches_t[i, sl] = torch.from_numpy(pt.astype(np.float32))
        image_t[i, sl] = torch.tensor(im, dtype=torch.long)
        valid[i, sl] = True
    return Packed(tokens_t, patches_t, image_t, valid)
