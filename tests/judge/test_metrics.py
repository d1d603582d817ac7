"""Metric values computed by hand."""

from __future__ import annotations

import math

import pytest

from headwater.errors import InvalidRequestError
from headwater.judge.metrics import accuracy, correlation, rewardbench_scores


def test_failure_policies():
    outcomes = [True, False, None, True]
    assert accuracy(outcomes, "wrong") == 0.5
    assert accuracy(outcomes, "half") == 0.625
    assert accuracy(outcomes, "drop") == pytest.approx(2 / 3)
    assert math.isnan(accuracy([None], "drop"))
    with pytest.raises(InvalidRequestError):
        accuracy(outcomes, "lenient")  # type: ignore[arg-type]


def test_correlations_by_hand():
    result = correlation([1, 2, 3, None, 5], [1, 3, 2, 4, 5])
    assert (result.n, result.failures) == (4, 1)
    # x = 1, 2, 3, 5 and y = 1, 3, 2, 5: concordant 5 of 6 pairs, discordant 1 -> tau = 4/6
    assert result.kendall == pytest.approx(4 / 6)
    assert result.spearman == pytest.approx(0.8)
    assert result.pearson == pytest.approx(0.8857, abs=1e-4)


def test_rewardbench_weighting_by_hand():
    accuracies = {"alpacaeval-easy": 1.0, "mt-bench-easy": 0.5, "math-prm": 0.5, "hep-python": 1.0}
    sizes = {"alpacaeval-easy": 100, "mt-bench-easy": 28, "math-prm": 447, "hep-python": 164}
    scores = rewardbench_scores(accuracies, sizes)
    assert scores["chat"] == pytest.approx((100 * 1.0 + 28 * 0.5) / 128)
    assert scores["reasoning"] == pytest.approx((984 * 0.5 + 164 * 1.0) / (984 + 164))
    assert scores["overall"] == pytest.approx((scores["chat"] + scores["reasoning"]) / 2)
    assert "safety" not in scores
