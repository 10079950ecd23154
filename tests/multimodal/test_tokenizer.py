"""The byte tokenizer: bytes round-trip, special tokens, a clear error for unknown ids."""

from __future__ import annotations

import pytest

from tfusion.errors import DataError
from tfusion.multimodal.tokenizer import ByteTokenizer


def test_bytes_round_trip_with_special_tokens():
    tok = ByteTokenizer()
    text = "a red circle — über ∑ 漢字"
    ids = [tok.BOS, *tok.encode(text), tok.BOI, tok.EOI, tok.EOS]
    assert tok.decode(ids) == f"<bos>{text}<boi><eoi><eos>"
    assert max(ids) < tok.vocab_size == 261
    with pytest.raises(DataError):
        tok.decode([999])
