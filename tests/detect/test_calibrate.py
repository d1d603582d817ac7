"""Thresholds at a target FPR, evaluation figures by hand, and saved calibrations."""

from __future__ import annotations

import math
import random

import pytest

from headwater.detect.calibrate import (
    Calibration,
    SmallSampleWarning,
    auroc,
    calibrate,
    evaluate,
    fpr_upper_bound,
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
    assert set(report["per_source"]) == {"gpt", "claude", "web"}
    assert report["per_source"]["gpt"]["n_human"] == 0 and report["per_source"]["web"]["n_human"] == 3


def _saved(threshold: float, target_fpr: float = 0.01, higher_is_ai: bool = True) -> Calibration:
    return Calibration("x", ["m"], threshold, target_fpr, 0.0, 500, higher_is_ai, {}, "2025-01-01")


def test_per_source_groups_human_texts_by_source_at_one_threshold():
    scores = [0.9, 0.6, 0.1, 0.2, 0.3, 0.15, 0.5, 0.7, 0.8, 0.85]
    labels = ["ai", "ai"] + ["human"] * 6 + ["ai", "human"]
    sources = ["gpt", "gpt", "news", "news", "news", "news", "essays", "essays", "wiki", "wiki"]
    report = evaluate(scores, labels, True, sources, calibration=_saved(0.4))
    per_source = report["per_source"]
    # one threshold for all sources: the essays writers are flagged, the news writers are not
    assert per_source["essays"]["held_out_fpr"] == 1.0 and per_source["news"]["held_out_fpr"] == 0.0
    assert per_source["gpt"]["held_out_tpr"] == 1.0 and math.isnan(per_source["gpt"]["held_out_fpr"])
    assert (per_source["essays"]["n_human"], per_source["essays"]["n_ai"]) == (2, 0)
    # AUROC: a human-only source against every AI text, an AI-only one against every human, a mixed one within
    assert per_source["essays"]["auroc"] == 5 / 6 and per_source["news"]["auroc"] == 1.0
    assert per_source["gpt"]["auroc"] == 12 / 14 and per_source["wiki"]["auroc"] == 0.0
    assert report["overall"]["held_out_fpr"] == 3 / 7 and report["overall"]["held_out_tpr"] == 1.0


def test_evaluate_reports_the_held_out_fpr_of_a_calibration_and_warns_when_too_few_humans():
    scores = [0.9, 0.8] + [i / 100 for i in range(50)]
    labels = ["ai", "ai"] + ["human"] * 50
    report = evaluate(scores, labels, True, calibration=_saved(0.48, target_fpr=0.05))
    assert report["overall"]["held_out_fpr"] == 2 / 50  # 0.48 and 0.49 reach the threshold
    assert report["overall"]["held_out_fpr_upper_95"] == pytest.approx(fpr_upper_bound(2, 50))
    assert report["calibration"]["target_fpr"] == 0.05 and "warning" not in report["calibration"]
    small = evaluate(scores, labels, True, calibration=_saved(0.48, target_fpr=0.01))
    assert "50 held-out human texts cannot measure an FPR of 1.00%" in small["calibration"]["warning"]
    with pytest.raises(InvalidRequestError, match="other polarity"):
        evaluate(scores, labels, False, calibration=_saved(0.48))


def test_fpr_upper_bound_is_the_exact_binomial_bound():
    assert fpr_upper_bound(0, 300) == pytest.approx(1 - 0.05 ** (1 / 300))  # the rule of three: about 3/n
    assert fpr_upper_bound(3, 100) == pytest.approx(0.0757, abs=1e-4)
    assert fpr_upper_bound(5, 5) == 1.0 and math.isnan(fpr_upper_bound(0, 0))


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
    # the stored threshold is on oriented scores (-B): negative for Binoculars; raw_threshold is on B itself
    assert saved.threshold < 0 and saved.raw_threshold == -saved.threshold
    assert saved.is_ai(saved.raw_threshold) and not saved.is_ai(math.nextafter(saved.raw_threshold, 2.0))


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
    assert report["per_source"]["gpt"]["refused"] == 1 and report["per_source"]["claude"]["refused"] == 0
    assert report["per_source"]["web"]["refused"] == 1 and report["per_source"]["web"]["n_human"] == 2
    assert threshold_at_fpr([nan, 0.1, 0.5, nan], 0.5) == threshold_at_fpr([0.1, 0.5], 0.5)
    assert calibrate("llm", ["m"], [nan, -3.0, -4.0, 2.0], True, 0.5, {}).n_human == 3
    with pytest.raises(InvalidRequestError, match="all refused"):
        threshold_at_fpr([nan, nan], 0.05)
