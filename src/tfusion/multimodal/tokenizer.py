"""A byte-level tokenizer with the special tokens of mixed text-and-image sequences.

Ids 0..255 are the UTF-8 bytes, then PAD, BOS, EOS, BOI (begin of image) and EOI (end of image).
Any text round-trips exactly; no vocabulary file is needed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

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
