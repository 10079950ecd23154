"""A byte-level tokenizer with the special tokens of mixed text-and-image sequences.

Ids 0..255 are the UTF-8 bytes, then PAD, BOS, EOS, BOI (begin of image) and EOI (end of image).
Any text round-trips exactly; no vocabulary file is needed. Transfusion writes its sequences
with it; DiT's text conditioning encodes captions with it (`encode_captions`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import numpy as np

from tfusion.errors import DataError


class ByteTokenizer:
    """UTF-8 bytes plus five special tokens (vocabulary 261)."""

    PAD, BOS, EOS, BOI, EOI = 256, 257, 258, 259, 260
    SPECIAL: ClassVar[dict[str, int]] = {
        "<pad>": PAD,
        "<bos>": BOS,
        "<eos>": EOS,
        "<boi>": BOI,
        "<eoi>": EOI,
    }

    @property
    def vocab_size(self) -> int:
        return 261

    def encode(self, text: str) -> list[int]:
        return list(text.encode("utf-8"))

    def decode(self, ids: Sequence[int]) -> str:
        """Text of the byte ids; special tokens are written as <boi>, <eoi>, ... ."""
        names = {v: k for k, v in self.SPECIAL.items()}
        out, run = [], bytearray()
        for i in ids:
            i = int(i)
            if 0 <= i < 256:
                run.append(i)
                continue
            if i not in names:
                raise DataError(f"token id {i} is outside the byte tokenizer's vocabulary (261)")
            out.append(run.decode("utf-8", errors="replace"))
            run = bytearray()
            out.append(names[i])
        out.append(run.decode("utf-8", errors="replace"))
        return "".join(out)


def encode_captions(captions: Sequence[str], max_len: int) -> np.ndarray:
    """Captions -> (N, max_len) int64 byte ids padded with PAD; an empty caption is all PAD (the
    "no caption" of classifier-free guidance). A caption longer than max_len is refused."""
    tok = ByteTokenizer()
    out = np.full((len(captions), max_len), tok.PAD, dtype=np.int64)
    for i, caption in enumerate(captions):
        ids = tok.encode(caption)
        if len(ids) > max_len:
            raise DataError(
                f"caption {i} is {len(ids)} bytes long ({caption[:40]!r}...); the model reads at "
                f"most {max_len}: raise model.max_caption or shorten the captions"
            )
        out[i, : len(ids)] = ids
    return out
