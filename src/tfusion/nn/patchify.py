"""Images <-> patch tokens, written once with named axes (einops).

    patchify:   (B, C, H, W)             -> (B, H/p * W/p, p * p * C)
    unpatchify: (B, H/p * W/p, p * p * C) -> (B, C, H, W)

Tokens run over the patch grid in raster order (grid row gh, then grid column gw); the values of a
token are its patch's pixels in (row p, column q, channel c) order, channel fastest. This is the
layout of the Transfusion sequences and of DiT's output head (the released DiT checkpoints'
`final_layer.linear` writes p * q * c in this order). DiT's input side is a Conv2d whose kernel
is laid out (c, p, q); it stays a convolution and does not use these functions.

Both functions take torch tensors or numpy arrays (einops dispatches on the type) and only move
values: the output holds exactly the input's numbers. Numpy results are C-contiguous.
"""

from __future__ import annotations

from typing import TypeVar

import numpy as np
from einops import rearrange

from tfusion.errors import DataError

Array = TypeVar("Array")  # torch.Tensor or np.ndarray; the output has the input's type

PATCHIFY = "b c (gh p) (gw q) -> b (gh gw) (p q c)"
UNPATCHIFY = "b (gh gw) (p q c) -> b c (gh p) (gw q)"


def _contiguous(x: Array) -> Array:
    return np.ascontiguousarray(x) if isinstance(x, np.ndarray) else x  # type: ignore[return-value]


def patchify(images: Array, p: int) -> Array:
    """(B, C, H, W) -> (B, H/p * W/p, p * p * C): p x p patches in raster order, values (row,
    column, channel) within a patch."""
    h, w = images.shape[2], images.shape[3]  # type: ignore[attr-defined]
    if h % p or w % p:
        raise DataError(f"images of {h} x {w} do not split into {p} x {p} patches")
    return _contiguous(rearrange(images, PATCHIFY, p=p, q=p))


def unpatchify(tokens: Array, p: int, h: int, w: int) -> Array:
    """The inverse of `patchify`: (B, h/p * w/p, p * p * C) -> (B, C, h, w)."""
    if h % p or w % p:
        raise DataError(f"images of {h} x {w} do not split into {p} x {p} patches")
    return _contiguous(rearrange(tokens, UNPATCHIFY, gh=h // p, gw=w // p, p=p, q=p))
