"""Thresholds at a target FPR, evaluation figures by hand, and saved calibrations."""

from __future__ import annotations

import random

import pytest

from headwater.detect.calibrate import (
    Calibration,
    SmallSampleWarning,
    auroc,
    calibrate,
    evaluate,
    threshold_at_fpr,
)
from headwater.errors import InvalidRequestError


def test_threshold_meets_the_target_on_held_out_scores():
    rng = random.Random(0)
    calibration = [rng.gauss(0, 1) for _ in range(2000)]
    held_out = [rng.gauss(0, 1) for _ in range(20000)]
    threshold, achieved = threshold_at_fpr(calibration, 0.05)
    assert achieved <= 0.05
    held_out_fpr = sum(s >= threshold for s in held_out) / len(held_out)
    assert held_out_fpr == pytest.approx(0.05, abs=3 * (0.05 * 0.95 / 2000) ** 0.5)


def test_small_samples_warn_and_never_exceed_the_target():
    with pytest.warns(SmallSampleWarning):
        threshold, achieved = threshold_at_fpr([0.1, 0.5, 0.3], 0.01)
    assert achieved == 0 and threshold > 0.5
    with pytest.raises(InvalidRequestError):
        threshold_at_fpr([], 0.05)


def test_auroc_and_tpr_by_hand():
    assert auroc([3, 4], [1, 2]) == 1.0
    assert auroc([1, 3], [2, 2]) == 0.5
    report = evaluate(
        [0.9, 0.8, 0.2, 0.1, 0.7],
        ["ai", "ai", "human", "human", "human"],
        higher_is_ai=True,
        sources=["gpt", "claude", "web", "web", "web"],
    )
    assert report["overall"]["auroc"] == 1.0
    assert report["overall"]["tpr_at_5pct_fpr"] == 1.0 and report["overall"]["fpr_at_5pct"] == 0.0
    assert set(report["per_source"]) == {"gpt", "claude"}


def test_lower_is_ai_detectors_are_oriented():
    saved = calibrate(
        "binoculars",
        ["o", "p"],
        [1.0, 0.95, 0.9, 0.99] * 50,
        higher_is_ai=False,
        target_fpr=0.05,
        settings={"max_tokens": 512},
    )
    assert saved.is_ai(0.5) and not saved.is_ai(1.0)


def test_calibrations_save_and_reload(tmp_path):
    saved = calibrate("fast-detectgpt", ["s", "c"], [0.0] * 100 + [1.0], True, 0.05, {"ppl_model": None})
    path = tmp_path / "cal.json"
    saved.save(path)
    assert Calibration.load(path) == saved
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(InvalidRequestError, match="not a saved calibration"):
        Calibration.load(tmp_path / "bad.json")


def test_refused_nan_scores_are_dropped_and_counted():
    nan = float("nan")
    report = evaluate(
        [0.9, nan, 0.2, 0.1, nan, 0.95],
        ["ai", "ai", "human", "human", "human", "ai"],
        higher_is_ai=True,
        sources=["gpt", "gpt", "web", "web", "web", "claude"],
    )
    overall = report["overall"]
    assert (overall["n_ai"], overall["n_human"], overall["refused"], overall["auroc"]) == (2, 2, 2, 1.0)
    assert report["per_source"]["gpt"]["refused"] == 2 and report["per_source"]["claude"]["refused"] == 1
    assert threshold_at_fpr([nan, 0.1, 0.5, nan], 0.5) == threshold_at_fpr([0.1, 0.5], 0.5)
    assert calibrate("llm", ["m"], [nan, -3.0, -4.0, 2.0], True, 0.5, {}).n_human == 3
    with pytest.raises(InvalidRequestError, match="all refused"):
        threshold_at_fpr([nan, nan], 0.05)
