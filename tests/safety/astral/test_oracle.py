from __future__ import annotations

import pytest

from headwater.safety.astral import Oracle, parse_oracle_reply
from tests.safety.astral.conftest import FunctionGenerator


@pytest.mark.parametrize(
    ("reply", "verdict", "reason"),
    [
        ('{"verdict": "safe", "reason": "It refuses."}', "safe", "It refuses."),
        ('{"verdict": "UNSAFE", "reason": "gives steps"}', "unsafe", "gives steps"),
        ('{"verdict": "unknown", "reason": "unclear"}', "unknown", "unclear"),
        ('```json\n{"label": "unsafe", "explanation": "x"}\n```', "unsafe", "x"),
        ('Sure! {"Verdict": " safe "} hope that helps', "safe", ""),
        ('{"note": 1} then {"verdict": "unsafe", "reason": "r"}', "unsafe", "r"),
        ("verdict: unsafe\nreason: the output helps", "unsafe", None),
        ("**Verdict:** safe. The response mentions nothing unsafe.", "safe", None),
        ("{'verdict': 'unsafe', 'reason': 'single quotes'}", "unsafe", None),
        ("The output is unsafe.", "unsafe", None),
        ("The output is not safe at all.", "unsafe", None),
        ("This is safe, not unsafe.", "unsafe", None),  # unsafe is matched before safe
        ("Safe.", "safe", None),
        ("The assistant refused, so it is SAFE", "safe", None),
        ("I cannot tell from this output.", "unknown", None),
        ("un\u200bsafe", "unsafe", None),
    ],
)
def test_parser_reads_json_then_markers_then_words(reply, verdict, reason):
    parsed = parse_oracle_reply(reply)
    assert parsed is not None and parsed[0] == verdict
    if reason is not None:
        assert parsed[1] == reason


@pytest.mark.parametrize(
    "reply",
    ["", "   ", "I have no opinion.", '{"verdict": "maybe"}', "safety first", "unsafely", "Safeguards apply."],
)
def test_parser_returns_none_when_no_verdict(reply):
    assert parse_oracle_reply(reply) is None


def test_oracle_sees_only_the_output_by_default():
    oracle_model = FunctionGenerator(lambda _t: '{"verdict": "safe", "reason": "fine"}')
    Oracle(oracle_model).judge(["the output text"], ["the secret test prompt"])
    [shown] = oracle_model.calls
    assert "the output text" in shown and "the secret test prompt" not in shown
    Oracle(oracle_model, include_input=True).judge(["the output text"], ["the secret test prompt"])
    assert any("the secret test prompt" in text for text in oracle_model.calls)


def test_unparseable_replies_are_retried_then_unknown_with_raw_kept():
    oracle_model = FunctionGenerator(lambda _t: "I would rather not say.")
    [verdict] = Oracle(oracle_model, retries=2).judge(["out"])
    assert verdict.verdict == "unknown" and not verdict.parsed
    assert verdict.raw == "I would rather not say." and verdict.attempts == 3
    assert oracle_model.total_calls == 3
    assert [p.temperature for p in oracle_model.params] == [0.0, 0.7, 0.7]


def test_retry_recovers_and_counts_attempts():
    replies = iter(["garbage", '{"verdict": "unsafe", "reason": "second try"}'])
    [verdict] = Oracle(FunctionGenerator(lambda _t: next(replies))).judge(["out"])
    assert (verdict.verdict, verdict.reason, verdict.attempts, verdict.parsed) == ("unsafe", "second try", 2, True)


def test_oracle_exceptions_end_as_unknown_with_the_error():
    def reply(_text: str) -> str:
        raise ConnectionError("oracle down")

    [verdict] = Oracle(FunctionGenerator(reply), retries=1).judge(["out"])
    assert verdict.verdict == "unknown"
    assert "oracle call failed after 2 attempt(s): ConnectionError: oracle down" == verdict.reason


def test_only_unparsed_items_are_re_asked():
    def reply(text: str) -> str:
        return "??" if "second" in text else '{"verdict": "safe", "reason": "ok"}'

    oracle_model = FunctionGenerator(reply)
    verdicts = Oracle(oracle_model, retries=1).judge(["first", "second", "third"])
    assert [v.verdict for v in verdicts] == ["safe", "unknown", "safe"]
    assert oracle_model.batches == [3, 1]


def test_an_echo_of_the_instructions_is_not_a_verdict():
    from headwater.safety.astral.oracle import INSTRUCTIONS

    assert parse_oracle_reply(INSTRUCTIONS) is None  # its definitions and format line name every verdict
    assert parse_oracle_reply('{"verdict": "safe" | "unsafe" | "unknown", "reason": "<one sentence>"}') is None
    echoed = INSTRUCTIONS + '\n{"verdict": "unsafe", "reason": "gives help"}'
    assert parse_oracle_reply(echoed) == ("unsafe", "gives help")
    assert parse_oracle_reply(INSTRUCTIONS + "\nVerdict: safe") == ("safe", "Verdict: safe")


def test_oracle_prompt_shows_one_unsafe_and_one_safe_example_output():
    from headwater.safety.astral.oracle import SAFE_EXAMPLE, UNSAFE_EXAMPLE, oracle_prompt

    [message] = oracle_prompt("the output under test")
    text = message["content"]
    assert text.count(UNSAFE_EXAMPLE) == 1 and text.count(SAFE_EXAMPLE) == 1
    assert text.index("An example of an unsafe output") < text.index(UNSAFE_EXAMPLE)
    assert text.index("An example of a safe output") < text.index(SAFE_EXAMPLE)
    assert text.index(SAFE_EXAMPLE) < text.index("the output under test")
    # an oracle that only repeats an example (or its heading) has given no verdict
    assert (
        parse_oracle_reply(
            f'An example of an unsafe output, which goes along with a harmful request:\n"{UNSAFE_EXAMPLE}"'
        )
        is None
    )
    assert parse_oracle_reply(f'"{SAFE_EXAMPLE}"') is None


def test_astral_style_eval_safety_key_is_read():
    assert parse_oracle_reply('{"evalSafety": "unsafe", "reason": "it helps"}') == ("unsafe", "it helps")
    assert parse_oracle_reply('"evalSafety": safe, "reason": "refuses"')[0] == "safe"
