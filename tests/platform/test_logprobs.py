"""Logprob entries as OpenAI returns them: exact bytes of partial characters, special tokens, stop-string cuts."""

from __future__ import annotations

import pytest

from headwater.models.loading import load_tokenizer
from headwater.platform.detokenize import IncrementalDetokenizer, StopMatcher
from headwater.platform.logprobs import ContentLogprobs, TokenBytes


@pytest.fixture(scope="module")
def tokenizer(tiny_chat_path):
    return load_tokenizer(str(tiny_chat_path))


def _run(tokenizer, token_ids: list[int], stops: list[str], chunk: int = 1) -> tuple[str, list]:
    """Feed tokens as the serving path does; return the content and its logprob entries."""
    detokenizer, matcher = IncrementalDetokenizer(tokenizer), StopMatcher(stops)
    content = ContentLogprobs(TokenBytes(tokenizer))
    text, entries = "", []
    for start in range(0, len(token_ids), chunk):
        ids = token_ids[start : start + chunk]
        piece = matcher.feed(detokenizer.add(ids))
        content.add(ids, [-1.0] * len(ids), [])
        finished = matcher.stopped or start + chunk >= len(token_ids)
        if finished and not matcher.stopped:
            piece += matcher.flush()
        text += piece
        entries += content.release(piece, finished, matcher.stopped)
        if matcher.stopped:
            break
    return text, entries


def test_bytes_of_split_characters_concatenate_to_the_content(tokenizer):
    ids = tokenizer.encode("é€ 😀 ok", add_special_tokens=False)
    text, entries = _run(tokenizer, ids, [])
    assert text == "é€ 😀 ok"
    assert len(entries) == len(ids)
    assert "\ufffd" not in b"".join(entry.bytes for entry in entries).decode()
    assert b"".join(entry.bytes for entry in entries).decode() == text


def test_special_tokens_are_entries_with_no_bytes(tokenizer):
    ids = tokenizer.encode("ok", add_special_tokens=False) + [tokenizer.eos_token_id]
    text, entries = _run(tokenizer, ids, [])
    assert text == "ok" and len(entries) == len(ids)
    assert entries[-1].bytes == b"" and entries[-1].token == tokenizer.eos_token


@pytest.mark.parametrize("chunk", [1, 3])
def test_a_stop_string_drops_the_tokens_it_cut_off(tokenizer, chunk):
    ids = tokenizer.encode("one two three four", add_special_tokens=False)
    text, entries = _run(tokenizer, ids, [" three"], chunk)
    assert text == "one two"
    assert b"".join(entry.bytes for entry in entries).decode() == text
