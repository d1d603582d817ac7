"""The parser on 30+ output shapes: tolerated forms, last-marker binding, and named failures."""

from __future__ import annotations

import pytest

from headwater.judge import Scale, parse

S = Scale(1, 5)


@pytest.mark.parametrize(
    ("text", "verdict"),
    [
        ("**Reasoning:** fine\n\n**Result:** 4", 4),
        ("**Result**: 4", 4),
        ("**Result:**4", 4),
        ("Result: 4", 4),
        ("result:   4  ", 4),
        ("RESULT: 4", 4),
        ("**Result:**\n\n4", 4),
        ("**Result:** **4**", 4),
        ("**Result:** 4.", 4),
        ("**Result:** 4 - the response is good", 4),
        ("Result: 4/5", 4),
        ("Result: 4 out of 5", 4),
        ("Score: 4", 4),
        ("[RESULT] 4", 4),
        ("Feedback: nice [RESULT] 4", 4),
        ("**Result:** 4.0", 4),
        ("Res\u200bult: 4".replace("\u200b", ""), 4),
        ("**Result:**\u200b 4", 4),
        ("Final verdict: 3", 3),
        ("Format: **Result:** <an integer from 1 to 5>\n**Reasoning:** ok\n**Result:** 2", 2),
        ("**Reasoning:** the reply says Result: 5 but\nit is wrong\n\n**Result:** 1", 1),
        ("**Result:** 5\n\nThis score is deserved.", 5),
        ("`Result: 3`", 3),
    ],
)
def test_scores(text, verdict):
    parsed = parse(text, scale=S)
    assert (parsed.verdict, parsed.failure) == (verdict, None)


@pytest.mark.parametrize(
    ("text", "failure"),
    [
        ("Result: 0", "out_of_range"),
        ("Result: 6", "out_of_range"),
        ("Result: 7/10", "out_of_range"),
        ("Result: 3.5", "not_integer"),
        ("Result:", "empty_verdict"),
        ("**Result:**   \n\n", "empty_verdict"),
        ("Result: excellent", "empty_verdict"),
        ("I would give it a four.", "no_marker"),
        ("", "no_marker"),
    ],
)
def test_score_failures(text, failure):
    parsed = parse(text, scale=S)
    assert (parsed.verdict, parsed.failure) == (None, failure)


@pytest.mark.parametrize(
    ("text", "verdict", "failure"),
    [
        ("**Result:** A", "A", None),
        ("**Result:** B", "B", None),
        ("Result: Response B", "B", None),
        ("Result: [[A]]", "A", None),
        ("Result: Assistant A is better.", "A", None),
        ("**Result:** **B**", "B", None),
        ("Result: tie", None, "tie"),
        ("Result: Both are equally good", None, "tie"),
        ("Result: neither", None, "tie"),
        ("Result: A and B", None, "tie"),
        ("Result: C", None, "unknown_label"),
        ("**Result:** b", "B", None),
        ("Result: a", "A", None),
        ("**Result:** **b**", "B", None),
        ("**Result:**\n\nb", "B", None),
        ("Result: [[b]]", "B", None),
        ("Result: b.", "B", None),
        ("Result: a good answer", None, "unknown_label"),
        ("Result: b is better", None, "unknown_label"),
        ("Result: ab", None, "unknown_label"),
    ],
)
def test_pairwise(text, verdict, failure):
    parsed = parse(text, pairwise=True)
    assert (parsed.verdict, parsed.failure) == (verdict, failure)


@pytest.mark.parametrize(
    ("text", "labels", "verdict", "failure"),
    [
        ("Result: Yes", ("Yes", "No"), "Yes", None),
        ("Result: no.", ("Yes", "No"), "No", None),
        ("**Result:** **YES**", ("Yes", "No"), "Yes", None),
        ("Result: maybe", ("Yes", "No"), None, "unknown_label"),
        ("Result: yes and no", ("Yes", "No"), None, "ambiguous"),
        ("Result: toxic", ("toxic", "safe"), "toxic", None),
    ],
)
def test_labels(text, labels, verdict, failure):
    parsed = parse(text, labels=labels)
    assert (parsed.verdict, parsed.failure) == (verdict, failure)


def test_multi_paragraph_reasoning_and_truncation():
    text = "**Reasoning:** first point.\n\nsecond point.\n\n**Result:** 3"
    assert parse(text, scale=S).reasoning == "first point.\n\nsecond point."
    truncated = parse("**Reasoning:** long", scale=S, truncated=True)
    assert (truncated.verdict, truncated.failure) == (None, "truncated")
