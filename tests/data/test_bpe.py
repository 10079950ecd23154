"""Byte-level BPE: merges learned by hand-checkable rules, exact round trips, safe files."""

from __future__ import annotations

import pytest

from tfusion.data.text import BPETokenizer, ByteTokenizer, train_bpe
from tfusion.errors import DataError


def test_merges_follow_pair_counts_within_words():
    # words "ab" x1 and " ab" x2: (a, b) occurs 3 times -> 261; then (" ", 261) twice -> 262;
    # no pair is left, so training stops below the asked-for vocabulary
    tok = train_bpe(["ab ab ab"], vocab_size=400)
    assert tok.merges == [(97, 98), (32, 261)]
    assert tok.vocab_size == 263
    assert tok.encode("ab ab") == [261, 262]
    assert tok.decode([261, 262, 262]) == "ab ab ab"


def test_ties_go_to_the_smallest_pair_and_the_vocabulary_caps_the_merges():
    # "xy" and "cd" both twice: (99, 100) < (120, 121), so "cd" merges first
    tok = train_bpe(["xy", "cd", "xy", "cd"], vocab_size=262)
    assert tok.merges == [(99, 100)]
    assert tok.encode("cdxy") == [261, 120, 121]


def test_pairs_that_occur_once_are_not_merged():
    assert train_bpe(["the quick brown fox"], 1000).merges == []


def test_encoding_applies_merges_in_the_order_learned_not_left_to_right():
    # merge 0 joins (b, c), merge 1 joins (a, b): "abc" -> a + bc, although a left-to-right
    # greedy pass would find "ab" first
    tok = BPETokenizer([(98, 99), (97, 98)])
    assert tok.encode("abc") == [97, 261]
    assert tok.encode("abd") == [262, 100]


def test_any_text_round_trips_and_special_ids_match_the_byte_tokenizer():
    corpus = "a red circle on the left\na blue square above a red circle\n" * 20
    tok = train_bpe([corpus], 300)
    text = "a red  circle — über ∑ 漢字\n\tunseen words, tabs\r\n"
    ids = [tok.BOS, *tok.encode(text), tok.BOI, tok.EOI, tok.EOS]
    assert tok.decode(ids) == f"<bos>{text}<boi><eoi><eos>"
    assert (tok.PAD, tok.BOS, tok.EOS, tok.BOI, tok.EOI) == (256, 257, 258, 259, 260)
    assert len(tok.encode(" circle")) == 1 and len(tok.encode("a red circle")) < 12
    assert ByteTokenizer().encode(text) == list(text.encode("utf-8"))
    with pytest.raises(DataError, match="vocabulary"):
        tok.decode([tok.vocab_size])


def test_saved_merges_load_back_and_damaged_files_are_refused():
    tok = train_bpe(["one two three one two three one two"], 300)
    again = BPETokenizer.from_json(tok.to_json())
    assert again.merges == tok.merges and again.encode("one two") == tok.encode("one two")
    for bad in (
        {"kind": "wordpiece", "merges": []},
        {"merges": []},
        {"kind": "bpe", "merges": [[97, 261]]},  # refers to an id not yet made
        {"kind": "bpe", "merges": [[97, 257]]},  # a special token
        {"kind": "bpe", "merges": "ab"},
    ):
        with pytest.raises(DataError):
            BPETokenizer.from_json(bad)
    with pytest.raises(DataError, match="261"):
        train_bpe(["x"], 100)
