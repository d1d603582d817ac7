"""Ensembles: majority votes and logistic stacking against hand-computed values, refusals, and reloading."""

from __future__ import annotations

import math
import random

import pytest

from headwater.detect import Calibration, Ensemble, majority_vote, stack
from headwater.detect.calibrate import auroc, threshold_at_fpr
from headwater.errors import InvalidRequestError

NAN = math.nan


def member(name: str, threshold: float, higher_is_ai: bool) -> Calibration:
    return Calibration(name, [f"{name}-model"], threshold, 0.01, 0.0, 100, higher_is_ai, {}, "2026-11-25")


BINOCULARS = member("binoculars", -0.9, higher_is_ai=False)  # AI when B <= 0.9
FAST = member("fast-detectgpt", 2.0, higher_is_ai=True)
LLM = member("llm", 3.0, higher_is_ai=True)


def test_majority_vote_by_hand():
    ensemble = majority_vote([BINOCULARS, FAST, LLM])
    scores = [[0.85, 0.95, 0.90, 1.2], [2.5, 2.5, 1.9, 0.0], [-4.0, NAN, 3.0, -5.0]]
    assert ensemble.votes(scores) == [2, 1, 2, 0]
    assert ensemble.score(scores) == pytest.approx([2 / 3, 1 / 3, 2 / 3, 0.0])
    assert ensemble.is_ai(scores) == [True, False, True, False]


def test_a_tie_is_not_a_majority():
    ensemble = majority_vote([FAST, LLM])
    assert ensemble.is_ai([[2.5, 2.5], [1.0, 4.0]]) == [False, True]
    with pytest.raises(InvalidRequestError, match="2 members but 1 score lists"):
        ensemble.score([[1.0]])


def test_stacking_score_by_hand():
    calibration = member("ensemble-stack", 1.0, higher_is_ai=True)
    ensemble = Ensemble("stack", (BINOCULARS, FAST), (2.0, 0.5), -1.0, (-0.9, 1.0), (0.1, 2.0), calibration)
    # text 0: z = ((-0.8 + 0.9) / 0.1, (3 - 1) / 2) = (1, 1) → 2·1 + 0.5·1 − 1 = 1.5
    # text 1: z = (-1, 0) → −2 − 1 = −3; text 2: a refused member score → refused
    scores = ensemble.score([[0.8, 1.0, NAN], [3.0, 1.0, 3.0]])
    assert scores[:2] == pytest.approx([1.5, -3.0]) and math.isnan(scores[2])
    assert ensemble.is_ai([[0.8, 1.0, NAN], [3.0, 1.0, 3.0]]) == [True, False, False]


def synthetic(n: int, seed: int) -> tuple[list[list[float]], list[str]]:
    rng = random.Random(seed)
    labels = ["ai"] * n + ["human"] * n
    binoculars = [rng.gauss(0.8 if label == "ai" else 1.0, 0.08) for label in labels]
    fast = [rng.gauss(3.0 if label == "ai" else 0.0, 1.5) for label in labels]
    return [binoculars, fast], labels


def test_stacking_fits_beats_members_and_is_recalibrated():
    scores, labels = synthetic(200, 0)
    scores[0].append(NAN), scores[1].append(1.0), labels.append("human")  # a refused row is left out of the fit
    ensemble = stack([BINOCULARS, FAST], scores, labels, target_fpr=0.05)
    assert all(weight > 0 for weight in ensemble.weights)
    stacked = ensemble.score(scores)
    assert math.isnan(stacked[-1])
    human = [s for s, label in zip(stacked, labels, strict=True) if label == "human"]
    assert (ensemble.calibration.threshold, ensemble.calibration.achieved_fpr) == threshold_at_fpr(human, 0.05)
    assert ensemble.calibration.n_human == 200 and ensemble.calibration.achieved_fpr <= 0.05

    def auc(values: list[float]) -> float:
        pairs = list(zip(values, labels, strict=True))[:-1]
        return auroc([v for v, lab in pairs if lab == "ai"], [v for v, lab in pairs if lab == "human"])

    assert auc(stacked) > max(auc([-s for s in scores[0]]), auc(scores[1]))


def test_stacking_calibrates_on_held_out_humans_and_reloads(tmp_path):
    scores, labels = synthetic(100, 1)
    held_out, _ = synthetic(300, 2)
    humans = [column[300:] for column in held_out]
    ensemble = stack([BINOCULARS, FAST], scores, labels, target_fpr=0.05, human_scores=humans)
    held_out_scores = ensemble.score(humans)
    assert ensemble.calibration.threshold == threshold_at_fpr(held_out_scores, 0.05)[0]
    assert ensemble.calibration.settings == {"held_out": True} and ensemble.calibration.n_human == 300
    path = tmp_path / "ensemble.json"
    ensemble.save(path)
    assert Ensemble.load(path) == ensemble
    (tmp_path / "bad.json").write_text('{"format": "headwater.ensemble/1", "method": "stack"}')
    with pytest.raises(InvalidRequestError, match="not a saved ensemble"):
        Ensemble.load(tmp_path / "bad.json")


def test_stacking_needs_both_classes():
    with pytest.raises(InvalidRequestError, match="'ai' and 'human'"):
        stack([FAST], [[1.0, 2.0]], ["ai", "ai"], 0.05)
