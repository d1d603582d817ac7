"""Incremental detokenisation equals a whole decode; stop strings cut exactly where they start."""

from __future__ import annotations

import copy
import random

import pytest

from headwater.models.builtin import build_tiny_tokenizer
from headwater.platform.detokenize import IncrementalDetokenizer, StopMatcher


@pytest.fixture(scope="module")
def tokenizer():
    return build_tiny_tokenizer()


@pytest.mark.parametrize("text", ["Hello world, the capital is Paris.", "naïve café — 日本語 ✓", "a  b\n\n c"])
def test_token_by_token_equals_whole_decode(tokenizer, text):
    ids = tokenizer.encode(text, add_special_tokens=False)
    detokenizer = IncrementalDetokenizer(tokenizer)
    streamed = "".join(detokenizer.add([token]) for token in ids)
    assert streamed == tokenizer.decode(ids) == text


def test_random_ids_in_random_chunks_never_emit_broken_characters(tokenizer):
    rng = random.Random(0)
    ids = [rng.randrange(3, len(tokenizer)) for _ in range(200)]
    detokenizer = IncrementalDetokenizer(tokenizer)
    pieces, start = [], 0
    while start < len(ids):
        size = rng.randint(1, 4)
        pieces.append(detokenizer.add(ids[start : start + size]))
        start += size
    streamed = "".join(pieces)
    whole = tokenizer.decode(ids)
    assert whole.startswith(streamed)
    assert len(whole) - len(streamed) <= 3


def test_a_tokenizer_that_decodes_its_own_way_is_decoded_its_way(tokenizer):
    """Fast tokenizers are decoded by their Rust tokenizer directly, unless their class changes `_decode`."""

    class Shouting(type(tokenizer)):
        def _decode(self, token_ids, **kwargs):
            return super()._decode(token_ids, **kwargs).upper()

    shouting = copy.copy(tokenizer)
    shouting.__class__ = Shouting
    ids = tokenizer.encode("quiet words", add_special_tokens=False)
    streamed = IncrementalDetokenizer(shouting)
    assert "".join(streamed.add([token]) for token in ids) == "QUIET WORDS"
    plain = IncrementalDetokenizer(tokenizer)
    assert "".join(plain.add([token]) for token in ids) == "quiet words"


def test_special_tokens_are_not_shown(tokenizer):
    detokenizer = IncrementalDetokenizer(tokenizer)
    assert detokenizer.add([tokenizer.eos_token_id]) == ""


def _run(stops, chunks):
    matcher = StopMatcher(stops)
    emitted = "".join(matcher.feed(chunk) for chunk in chunks)
    return emitted + matcher.flush(), matcher.stopped


@pytest.mark.parametrize(
    ("stops", "chunks", "expected", "stopped"),
    [
        (["END"], ["abc E", "N", "D more"], "abc ", True),
        (["END"], ["abc EN", "x"], "abc ENx", False),
        (["\n\n", "##"], ["one\n", "two#", "#three"], "one\ntwo", True),
        ([], ["free ", "text"], "free text", False),
        (["a"], ["bab"], "b", True),
    ],
)
def test_stop_matcher(stops, chunks, expected, stopped):
    assert _run(stops, chunks) == (expected, stopped)


def test_stop_matcher_holds_back_possible_prefixes():
    matcher = StopMatcher(["STOP"])
    assert matcher.feed("xxST") == "x"
    assert matcher.feed("OP") == "x"
    assert matcher.stopped
