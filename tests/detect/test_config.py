"""DetectorConfig and the library calls behind `headwater detect`: build, calibrate, reload from a calibration."""

from __future__ import annotations

import warnings

import pytest

from headwater.detect import (
    ClueDetector,
    DetectorConfig,
    Lexicon,
    build_detector,
    calibrate_detector,
    evaluate_texts,
    load_calibrated,
    score_texts,
)
from headwater.errors import InvalidRequestError
from tests.detect.clue_paragraphs import AI, HUMAN


@pytest.fixture(scope="module")
def clue_config(tmp_path_factory):
    path = tmp_path_factory.mktemp("clues") / "m.json"
    texts, labels = HUMAN[:14] + AI[:14], ["human"] * 14 + ["ai"] * 14
    ClueDetector(Lexicon.load(), min_words=40).fit(texts, labels).save(path)
    return DetectorConfig("clues", clue_model=path)


def test_one_lm_serves_on_both_sides_and_the_default_is_smollm2():
    assert (DetectorConfig().observer, DetectorConfig().performer) == ("smollm2-135m", "smollm2-135m")
    assert DetectorConfig(performer="gpt2").observer == "gpt2"
    assert DetectorConfig(observer="a", performer="b").models() == ["a", "b"]


@pytest.mark.parametrize(
    ("settings", "field"),
    [
        ({"detector": "gptzero"}, "detector"),
        ({"ppl_model": "both"}, "ppl_model"),
        ({"detector": "fast-detectgpt", "ppl_model": "observer"}, "ppl_model"),
    ],
)
def test_bad_settings_name_the_field(settings, field):
    with pytest.raises(InvalidRequestError) as caught:
        DetectorConfig(**settings)
    assert caught.value.param == field and caught.value.message.startswith(field)


def test_a_calibration_reloads_the_detector_it_was_made_with(tmp_path, clue_config):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # 6 human texts cannot measure 1 %: the library warns, as it should
        saved = calibrate_detector(clue_config, HUMAN[14:20], target_fpr=0.2)
    saved.save(tmp_path / "cal.json")
    loaded = load_calibrated(tmp_path / "cal.json")
    assert loaded.config == DetectorConfig("clues", clue_model=clue_config.clue_model, min_words=40)
    rows = loaded.score(AI[14:20] + HUMAN[14:20])
    direct = score_texts(build_detector(clue_config), AI[14:20] + HUMAN[14:20])
    assert [row["score"] for row in rows] == [row["score"] for row in direct]
    assert [row["ai"] for row in rows] == [saved.is_ai(row["score"]) for row in direct]
    assert all(row["ai"] for row in rows[:6])  # every AI text flagged, and as many humans as the calibration said
    assert sum(row["ai"] for row in rows[6:]) == round(saved.achieved_fpr * 6) == 1


def test_values_given_next_to_a_calibration_must_agree(tmp_path, clue_config):
    calibrate_detector(clue_config, HUMAN[14:20], target_fpr=0.2).save(tmp_path / "cal.json")
    assert load_calibrated(tmp_path / "cal.json", expected={"detector": "clues", "model": None}).config.detector
    for expected, message in (({"detector": "binoculars"}, "differs"), ({"observer": "gpt2"}, "does not apply")):
        with pytest.raises(InvalidRequestError) as caught:
            load_calibrated(tmp_path / "cal.json", expected=expected)
        assert message in caught.value.message and caught.value.param == next(iter(expected))


def test_evaluate_texts_counts_refusals_and_reads_labels(clue_config):
    detector = build_detector(clue_config)
    rows = [{"text": t, "label": "ai"} for t in AI[14:20]] + [{"text": t, "label": "human"} for t in HUMAN[14:20]]
    report = evaluate_texts(detector, [*rows, {"text": "Too short.", "label": "human"}])
    assert report["overall"]["refused"] == 1 and report["overall"]["n_ai"] == 6  # type: ignore[index]
    with pytest.raises(InvalidRequestError, match="'ai' or 'human'"):
        evaluate_texts(detector, [{"text": AI[0], "label": "maybe"}])
