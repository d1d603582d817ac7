"""The LLM detector against scripted Generators: well-formed, rationale-first, malformed and empty replies."""

from __future__ import annotations

import math

import pytest

from headwater.detect import LLMDetector
from headwater.detect.llm_parse import parse_reply
from headwater.errors import InvalidRequestError
from headwater.models.generator import Generation
from tests.conftest import ScriptedGenerator
from tests.detect.clue_paragraphs import AI, HUMAN


def test_well_formed_replies_score_by_label_and_confidence():
    replies = [
        "Label: AI\nConfidence: 4\nExplanation: 'tapestry' and 'pivotal', and a quote-ended paragraph.",
        "**Label:** Human\n**Confidence:** 5/5\n**Explanation:** uses 'said' and ends untidily.",
        '```json\n{"label": "human", "confidence": 2, "explanation": "casual but even"}\n```',
    ]
    detector = LLMDetector(ScriptedGenerator(replies))
    results = detector.detect([AI[0], HUMAN[0], HUMAN[1]])
    assert [(r.label, r.confidence, r.error) for r in results] == [
        ("ai", 4, None),
        ("human", 5, None),
        ("human", 2, None),
    ]
    assert [r.score for r in results] == [4.0, -5.0, -2.0]
    assert results[0].explanation.startswith("'tapestry'") and results[2].explanation == "casual but even"
    assert results[1].raw == replies[1]


def test_rationale_first_takes_the_last_label_marker():
    reply = (
        "Explanation: A hasty reader might say Label: Human because of the anecdote, but the triads, 'vibrant' "
        "and the closing quote from Dr. Carter point the other way.\nLabel: AI\nConfidence: 3"
    )
    generator = ScriptedGenerator([reply])
    detector = LLMDetector(generator, rationale_first=True)
    (result,) = detector.detect([AI[0]])
    assert (result.label, result.confidence, result.score) == ("ai", 3, 3.0)
    assert result.explanation.endswith("point the other way.") and "Label: AI" not in result.explanation
    prompt = generator.prompts[0][0]["content"]
    assert prompt.index("Explanation:") < prompt.index("Label:") and AI[0] in prompt
    assert detector.params.temperature == 0.0


def test_guide_is_optional():
    with_guide, without = ScriptedGenerator([""]), ScriptedGenerator([""])
    LLMDetector(with_guide).detect([AI[0]])
    LLMDetector(without, guide=False).detect([AI[0]])
    assert "tapestry" in with_guide.prompts[0][0]["content"]
    assert "tapestry" not in without.prompts[0][0]["content"]


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        ("", "empty_reply"),
        ("   \n", "empty_reply"),
        ("I am not able to decide.", "no_label"),
        ("Label: AI or Human\nConfidence: 4", "ambiguous_label"),
        ("Label: not AI\nConfidence: 4", "ambiguous_label"),
        ("Label: it isn't human\nConfidence: 4", "ambiguous_label"),
        ("Label: AI\nExplanation: very polished", "no_confidence"),
        ("Label: Human\nConfidence: 9", "confidence_out_of_range"),
        ("Label: Human\nConfidence: 4/10", "confidence_out_of_range"),
        ("Label: AI\nConfidence: 3.5", "confidence_not_integer"),
    ],
)
def test_malformed_and_empty_replies_are_refused_with_a_reason(reply, error):
    (result,) = LLMDetector(ScriptedGenerator([reply])).detect([HUMAN[2]])
    assert result.error == error and result.label is None and math.isnan(result.score)


def test_other_shapes_parse():
    def triple(reply: str) -> tuple:
        parsed = parse_reply(reply)
        return parsed.label, parsed.confidence, parsed.explanation

    assert triple("Answer: Human (confidence 3/5). The writer sounds tired.") == (
        "human",
        3,
        "The writer sounds tired.",
    )
    assert triple("AI-generated. Confidence: 2")[:2] == ("ai", 2)
    assert triple("Verdict:\nhuman-written\nConfidence: 1")[:2] == ("human", 1)


def test_truncated_generations_are_named():
    class Truncating(ScriptedGenerator):
        def generate(self, prompts, params=None):
            return [Generation("Explanation: the text goes on and on", "length", 1, 512) for _ in prompts]

    (result,) = LLMDetector(Truncating([]), rationale_first=True).detect([AI[1]])
    assert result.error == "truncated" and math.isnan(result.score)


def test_short_or_empty_texts_are_refused_before_any_call():
    generator = ScriptedGenerator(["Label: AI\nConfidence: 5"])
    with pytest.raises(InvalidRequestError) as error:
        LLMDetector(generator).score([AI[0], ""])
    assert error.value.param == "texts[1]" and generator.prompts == []
