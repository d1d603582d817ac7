"""The clue detector on project-written paragraphs: held-out separation, explanations with exact spans, the
lexicon's version, JSON round trips and refusals."""

from __future__ import annotations

import json

import pytest

from headwater.detect import ClueDetector, Lexicon
from headwater.detect.calibrate import auroc
from headwater.detect.clue_features import extract
from headwater.errors import InvalidRequestError
from tests.detect.clue_paragraphs import AI, HUMAN

TRAIN = HUMAN[:14] + AI[:14]
TRAIN_LABELS = ["human"] * 14 + ["ai"] * 14


@pytest.fixture(scope="module")
def fitted() -> ClueDetector:
    return ClueDetector().fit(TRAIN, TRAIN_LABELS)


def test_held_out_paragraphs_are_separated(fitted):
    ai, human = fitted.score(AI[14:]), fitted.score(HUMAN[14:])
    assert auroc(ai, human) == 1.0
    assert min(ai) > 0.5 > max(human)


def test_explanations_name_categories_and_exact_quotes(fitted):
    text = AI[15]
    explanation = fitted.explain(text, top=10)
    assert explanation.label == "ai" and explanation.score == pytest.approx(fitted.score([text])[0])
    contributions = [abs(f.contribution) for f in explanation.features]
    assert contributions == sorted(contributions, reverse=True) and len(contributions) == 10
    quoted = [(f, span) for f in explanation.features for span in f.spans]
    assert quoted, "an AI-style paragraph must show at least one matched clue"
    for feature, (start, end, quote) in quoted:
        assert text[start:end] == quote
        assert feature.side in ("ai", "human") and feature.category
    assert any(quote.lower() == "tapestry" and f.category == "vocabulary" for f, (_s, _e, quote) in quoted)


def test_contributions_add_up_to_the_logit(fitted):
    import math

    explanation = fitted.explain(HUMAN[16], top=10_000)
    logit = sum(f.contribution for f in explanation.features) + fitted.intercept
    assert 1 / (1 + math.exp(-logit)) == pytest.approx(explanation.score)
    assert explanation.label == "human"


def test_features_cover_the_spec_categories():
    categories = {f.category for f in extract(AI[0], Lexicon.load())}
    expected = {"vocabulary", "sentence_structure", "grammar_punctuation", "formatting", "quotes", "names_titles"}
    assert expected | {"tone", "conclusions", "formality", "introductions"} <= categories
    by_name = {f.name: f for f in extract(AI[0], Lexicon.load())}
    assert by_name["lexicon.not_only_but_also"].value > 0 and by_name["lexicon.dr_title"].spans[0][2] == "Dr."
    quote_ended = by_name["quote_ended_paragraphs"]
    assert (
        quote_ended.value == 1.0
        and quote_ended.spans[0][2] == '"A garden is a testament to what neighbours can build together."'
    )
    untidy = {f.name: f for f in extract(HUMAN[0], Lexicon.load())}["untidy_ending"]
    assert untidy.value == 1.0 and untidy.spans[0][2].endswith("petrol station instead")


def test_lexicon_version_source_and_date_are_stored(fitted, tmp_path):
    lexicon = Lexicon.load()
    assert lexicon.version == "1.0.1" and "2501.15654" in lexicon.source and lexicon.date
    path = tmp_path / "clues.json"
    fitted.save(path)
    saved = json.loads(path.read_text())
    assert saved["lexicon"]["version"] == "1.0.1" and "2501.15654" in saved["lexicon"]["source"]
    assert not path.read_bytes().startswith(b"\x80")  # JSON, not a pickle


def test_save_load_round_trip_gives_identical_scores(fitted, tmp_path):
    path = tmp_path / "clues.json"
    fitted.save(path)
    loaded = ClueDetector.load(path)
    assert loaded.score(AI + HUMAN) == fitted.score(AI + HUMAN)
    assert loaded.min_words == fitted.min_words and loaded.lexicon == fitted.lexicon


def test_bad_files_and_bad_input_are_refused(fitted, tmp_path):
    with pytest.raises(InvalidRequestError) as empty:
        fitted.score([AI[0], "   "])
    assert empty.value.param == "texts[1]"
    with pytest.raises(InvalidRequestError, match="minimum 40") as short:
        fitted.score(["Too short to judge."])
    assert short.value.param == "texts[0]"
    with pytest.raises(InvalidRequestError, match="not fitted"):
        ClueDetector().score([AI[0]])
    with pytest.raises(InvalidRequestError, match="both"):
        ClueDetector().fit(AI[:3], ["ai"] * 3)
    with pytest.raises(InvalidRequestError) as label:
        ClueDetector().fit(AI[:2], ["ai", "robot"])
    assert label.value.param == "labels"
    broken = tmp_path / "broken.json"
    broken.write_text('{"format": "headwater.clue_detector/1"}')
    with pytest.raises(InvalidRequestError, match="not a saved clue detector"):
        ClueDetector.load(broken)


PLAIN = {"tapestry": "mix", "vibrant": "lively", "crucial": "important", "pivotal": "key", "Moreover": "Also"}
PLAIN |= {
    "Furthermore": "Also",
    "Additionally": "Also",
    "foster": "build",
    "fosters": "builds",
    "navigating": "handling",
}


def test_plainer_words_lower_the_score(fitted):
    """Word lists decay: swap the overused words for plain ones and P(AI) drops (the docs' caveat, in miniature)."""
    import re

    held_out = [t for t in AI[14:] if any(re.search(rf"\b{w}\b", t) for w in PLAIN)]
    plain = [re.sub(r"\b(" + "|".join(PLAIN) + r")\b", lambda m: PLAIN[m.group(1)], t) for t in held_out]
    assert len(held_out) >= 5
    for before, after in zip(fitted.score(held_out), fitted.score(plain), strict=True):
        assert after < before
