"""A Transfusion run's tokenizer: bytes (no file), or byte-level BPE learned from the training
captions (and data.text) and saved in the run folder as tokenizer.json.

The tokenizers themselves live in the core (`tfusion.data.text`): DiT's captions use them too.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from tfusion.data.text import BPETokenizer, ByteTokenizer, train_bpe
from tfusion.errors import CheckpointError, DataError
from tfusion.io import atomic_write_text

TOKENIZER_FILE = "tokenizer.json"


def learn_tokenizer(kind: str, vocab: int, texts: Iterable[str]) -> ByteTokenizer:
    """model.tokenizer: `bytes`, or `bpe` learned from texts up to `vocab` ids."""
    return ByteTokenizer() if kind == "bytes" else train_bpe(texts, vocab)


def save_tokenizer(tok: ByteTokenizer, run: str | Path) -> None:
    if isinstance(tok, BPETokenizer):
        atomic_write_text(Path(run) / TOKENIZER_FILE, json.dumps(tok.to_json()))


def run_tokenizer(run: str | Path, kind: str) -> ByteTokenizer:
    """The tokenizer a run was trained with; a missing or damaged tokenizer.json is one line."""
    from tfusion.runs import damage

    if kind == "bytes":
        return ByteTokenizer()
    path = Path(run) / TOKENIZER_FILE
    try:
        tok = BPETokenizer.from_json(json.loads(path.read_text()))
    except (OSError, ValueError, DataError) as e:
        raise CheckpointError(
            f"{path} {damage(e)}; this run was trained with model.tokenizer=bpe and cannot be "
            "read without it (restore the file or retrain)"
        ) from None
    # a tokenizer.json that parses but lost merges (cut, or from another run) would otherwise
    # surface as "weights do not fit", blaming the weights
    try:
        trained = json.loads((Path(run) / "data_state.json").read_text()).get("vocab")
    except (OSError, ValueError, AttributeError):
        trained = None  # data_state.json is checked (one line) where it is read
    if isinstance(trained, int) and trained != tok.vocab_size:
        raise CheckpointError(
            f"{path} has {tok.vocab_size} tokens but this run was trained with {trained} "
            "(data_state.json): the file was cut short or comes from another run; restore it"
        )
    return tok


def token_window(text_bytes: int, n_ids: int, n_bytes: int) -> int:
    """Tokens per text-only window: about `text_bytes` bytes of the text (bytes: exactly)."""
    return max(8, round(text_bytes * n_ids / max(n_bytes, 1)))


__all__ = [
    "BPETokenizer",
    "ByteTokenizer",
    "learn_tokenizer",
    "run_tokenizer",
    "save_tokenizer",
    "token_window",
]
