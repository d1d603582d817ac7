"""Votes, Fleiss' kappa and per-annotator rates against hand-computed values; the study JSON format."""

from __future__ import annotations

import json

import pytest

from headwater.detect.annotations import annotator_rates, fleiss_kappa, load_study, majority_vote
from headwater.errors import InvalidRequestError

# The standard worked example (10 items, 14 raters, 5 categories): kappa = 0.210.
TABLE = [
    [0, 0, 0, 0, 14],
    [0, 2, 6, 4, 2],
    [0, 0, 3, 5, 6],
    [0, 3, 9, 2, 0],
    [2, 2, 8, 1, 1],
    [7, 7, 0, 0, 0],
    [3, 2, 6, 3, 0],
    [2, 5, 3, 2, 2],
    [6, 5, 2, 1, 0],
    [0, 2, 2, 3, 7],
]


def test_fleiss_kappa_worked_example():
    ratings = [{str(j): count for j, count in enumerate(row) if count} for row in TABLE]
    result = fleiss_kappa(ratings)
    assert result.kappa == pytest.approx(0.2099, abs=1e-4)
    assert (result.items, result.excluded) == (10, 0)


def test_items_with_another_rater_count_are_excluded():
    ratings = [{"ai": 3}, {"ai": 2, "human": 1}, {"human": 3}, {"ai": 1}]
    result = fleiss_kappa(ratings)
    assert (result.items, result.excluded) == (3, 1)
    # P = 1, 1/3, 1; mean 7/9; p_ai = 5/9, p_human = 4/9; chance = 41/81
    assert result.kappa == pytest.approx((7 / 9 - 41 / 81) / (1 - 41 / 81))


def test_majority_votes_are_strict():
    assert majority_vote(["ai", "ai", "human", "ai", "human"]) == "ai"
    assert majority_vote(["ai", "human"]) is None
    assert majority_vote([]) is None


def test_annotator_rates():
    gold = {"1": "ai", "2": "ai", "3": "human", "4": "human"}
    rates = annotator_rates({"ann": {"1": "ai", "2": "human", "3": "ai", "4": "human"}}, gold)
    assert rates["ann"] == {"tpr": 0.5, "fpr": 0.5, "n": 4.0}


def test_study_json(tmp_path):
    path = tmp_path / "study.json"
    path.write_text(
        json.dumps(
            {
                "0": {
                    "ground_truth": "AI-generated",
                    "generation_model": "gpt-4o",
                    "issue": 3,
                    "ann1_guess": "AI-generated",
                    "ann1_confidence": 4,
                    "ann1_comment": "vocabulary",
                },
                "1": {
                    "ground_truth": "Human-written",
                    "generation_model": None,
                    "issue": "none",
                    "ann1_guess": "Human-written",
                    "ann1_confidence": "5",
                },
            }
        )
    )
    articles = load_study(path)
    assert [(a.gold, a.guesses, a.confidences) for a in articles] == [
        ("ai", {"ann1": "ai"}, {"ann1": 4}),
        ("human", {"ann1": "human"}, {"ann1": 5}),
    ]
    path.write_text(json.dumps({"0": {"ground_truth": "maybe"}}))
    with pytest.raises(InvalidRequestError, match="ground_truth"):
        load_study(path)
