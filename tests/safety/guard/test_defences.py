"""Defences: segment-wise moderation, the normalised view, ensembles, and their benign false-positive rate."""

from __future__ import annotations

import pytest

from headwater.safety.guard import EnsembleGuard, NormalisedGuard, SegmentGuard, Verdict, false_positive_rate, normalise
from headwater.safety.guard.defences import combine, segments


def test_segments_cover_the_text_in_bounded_pieces():
    text = "one two three four five six seven eight nine ten " + "x" * 30
    pieces = segments(text, 12)
    assert all(len(piece) <= 12 for piece in pieces)
    assert "".join(pieces).replace(" ", "") == text.replace(" ", "")


def test_segment_guard_finds_a_block_a_long_benign_answer_hides(keyword_guard):
    guard = keyword_guard(reach=40)  # only reads the first 40 characters of a turn
    upload = [
        {"role": "user", "content": "Tell me about rivers."},
        {"role": "assistant", "content": "Rivers carry water from hills down to the sea. " * 2 + "zorblax zorblax"},
    ]
    assert not guard.moderate([upload])[0].flagged
    defended = SegmentGuard(guard, max_chars=32)
    assert defended.moderate([upload])[0].flagged
    assert guard.calls == 2  # one guard call per batch, all views together


def test_normalised_view_catches_case_and_symbol_tricks(keyword_guard):
    guard = keyword_guard()
    assert normalise("  The ZORBLAX\u2122 is <here>!!\t") == "the zorblaxtm is here !!"
    tricked = [{"role": "user", "content": "q"}, {"role": "assistant", "content": "The ZORBLAX is here."}]
    assert not guard.moderate([tricked])[0].flagged
    assert NormalisedGuard(guard).moderate([tricked])[0].flagged


def test_ensemble_votes_and_combine(keyword_guard):
    a, b = keyword_guard("alpha"), keyword_guard("beta")
    items = ["alpha", "beta", "alpha beta", "gamma"]
    assert [v.flagged for v in EnsembleGuard([a, b]).moderate(items)] == [True, True, True, False]
    assert [v.flagged for v in EnsembleGuard([a, b], votes=2).moderate(items)] == [False, False, True, False]
    merged = combine([Verdict("unsafe", ("S1",), 0.7), Verdict("unsafe", ("S2", "S1"), 0.9), Verdict("safe", (), 0.1)])
    assert merged == Verdict("unsafe", ("S1", "S2"), 0.9)
    with pytest.raises(ValueError):
        EnsembleGuard([a], votes=2)


def test_false_positive_rate_counts_rejected_benign_items(keyword_guard):
    guard = keyword_guard("river")
    assert false_positive_rate(guard, ["a river", "a hill", "a lake", "the river bank"]) == 0.5
