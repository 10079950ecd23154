"""Tokenizers with the special tokens of mixed text-and-image sequences.

`ByteTokenizer`: ids 0..255 are the UTF-8 bytes, then PAD, BOS, EOS, BOI (begin of image) and
EOI (end of image). Any text round-trips exactly; no vocabulary file is needed. DiT's text
conditioning encodes captions with it (`encode_captions`).

`BPETokenizer`: byte-level byte-pair encoding (the family of the Llama tokenizer the Transfusion
paper uses) learned from the training text by `train_bpe`: the same 261 ids, then one id per
merge (id 261 + k joins the pair of merge k). Text is first cut into words, each with its leading
space (" circle"), and merges never cross a word, so a word's tokens do not depend on its
neighbours. Any text still round-trips exactly (unseen words fall back to bytes); the merges are
saved with a run as JSON (`to_json` / `from_json`). Shorter sequences mean cheaper training steps:
a shapes caption is 24-41 bytes but 6-8 tokens.
"""

from __future__ import annotations

import itertools
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from typing import Any, ClassVar

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

    # the bytes each id stands for (special ids: none; BPE appends one piece per merge)
    pieces: tuple[bytes, ...] = tuple(bytes([i]) for i in range(256)) + (b"",) * 5

    def decode(self, ids: Sequence[int]) -> str:
        """Text of the ids; special tokens are written as <boi>, <eoi>, ... ."""
        names = {v: k for k, v in self.SPECIAL.items()}
        out, run = [], bytearray()
        for i in ids:
            i = int(i)
            if i in names:
                out.append(run.decode("utf-8", errors="replace"))
                run = bytearray()
                out.append(names[i])
            elif 0 <= i < self.vocab_size:
                run += self.pieces[i]
            else:
                raise DataError(
                    f"token id {i} is outside the tokenizer's vocabulary ({self.vocab_size})"
                )
        out.append(run.decode("utf-8", errors="replace"))
        return "".join(out)


_WORDS = re.compile(r" ?[^\s]+|\s+")  # words with their leading space, runs of other spaces


def _words(text: str) -> list[bytes]:
    return [w.encode("utf-8") for w in _WORDS.findall(text)]


class BPETokenizer(ByteTokenizer):
    """Byte-level BPE: the byte tokenizer's 261 ids, then one id per learned merge."""

    def __init__(self, merges: Sequence[tuple[int, int]]) -> None:
        self.merges = [(int(a), int(b)) for a, b in merges]
        pieces = list(ByteTokenizer.pieces)
        for k, (a, b) in enumerate(self.merges):
            if (
                not (0 <= a < 261 + k and 0 <= b < 261 + k)
                or a in range(256, 261)
                or b in range(256, 261)
            ):
                raise DataError(f"BPE merge {k} ({a}, {b}) joins ids that are not text tokens")
            pieces.append(pieces[a] + pieces[b])
        self.pieces = tuple(pieces)
        self.rank = {pair: k for k, pair in enumerate(self.merges)}
        self._cache: dict[bytes, list[int]] = {}

    @property
    def vocab_size(self) -> int:
        return 261 + len(self.merges)

    def _encode_word(self, word: bytes) -> list[int]:
        ids = self._cache.get(word)
        if ids is not None:
            return ids
        ids = list(word)
        while len(ids) > 1:  # apply the earliest-learned merge present, as training did
            none = len(self.rank)
            ranks = [(self.rank.get(p, none), i) for i, p in enumerate(itertools.pairwise(ids))]
            best, i = min(ranks)
            if best == none:
                break
            a, b = ids[i], ids[i + 1]
            out, j = [], 0
            while j < len(ids):
                if j + 1 < len(ids) and ids[j] == a and ids[j + 1] == b:
                    out.append(261 + best)
                    j += 2
                else:
                    out.append(ids[j])
                    j += 1
            ids = out
        if len(self._cache) < 100_000:
            self._cache[word] = ids
        return ids

    def encode(self, text: str) -> list[int]:
        return [i for w in _words(text) for i in self._encode_word(w)]

    def to_json(self) -> dict[str, Any]:
        return {"kind": "bpe", "merges": [list(m) for m in self.merges]}

    @classmethod
    def from_json(cls, data: Any) -> BPETokenizer:
        """From `to_json`'s dict; a malformed one is a DataError."""
        try:
            if data["kind"] != "bpe":
                raise ValueError(f"kind {data['kind']!r}")
            return cls([(int(a), int(b)) for a, b in data["merges"]])
        except (KeyError, TypeError, ValueError) as e:
            raise DataError(f"not a BPE tokenizer file ({type(e).__name__}: {e})") from None


def train_bpe(texts: Iterable[str], vocab_size: int) -> BPETokenizer:
    """Learn merges from `texts` until the vocabulary holds `vocab_size` ids (bytes, the 5
    special tokens, merges) or no pair of tokens occurs twice. Deterministic: the most frequent
    pair wins, ties go to the smallest pair of ids. Pair counts are updated only in the words a
    merge touches, so a megabyte of text trains in seconds."""
    if vocab_size < 261:
        raise DataError(
            f"a BPE vocabulary holds at least the 261 byte and special ids, got {vocab_size}"
        )
    freq = Counter(w for t in texts for w in _words(t))
    words = [list(w) for w in freq]
    counts = [freq[w] for w in freq]
    pairs: Counter[tuple[int, int]] = Counter()
    where: dict[tuple[int, int], set[int]] = defaultdict(set)
    for k, ids in enumerate(words):
        for p in itertools.pairwise(ids):
            pairs[p] += counts[k]
            where[p].add(k)
    merges: list[tuple[int, int]] = []
    while 261 + len(merges) < vocab_size and pairs:
        best = min(pairs, key=lambda p: (-pairs[p], p))
        if pairs[best] < 2:
            break
        new = 261 + len(merges)
        merges.append(best)
        for k in list(where[best]):
            ids = words[k]
            for p in itertools.pairwise(ids):  # take the word's pairs out, merge, put them back
                pairs[p] -= counts[k]
                if pairs[p] <= 0:
                    del pairs[p]
                where[p].discard(k)
            out, j = [], 0
            while j < len(ids):
                if j + 1 < len(ids) and (ids[j], ids[j + 1]) == best:
                    out.append(new)
                    j += 2
                else:
                    out.append(ids[j])
                    j += 1
            words[k] = out
            for p in itertools.pairwise(out):
                pairs[p] += counts[k]
                where[p].add(k)
        where.pop(best, None)
    return BPETokenizer(merges)


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
