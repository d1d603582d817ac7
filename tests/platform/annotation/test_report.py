from __future__ import annotations

import pytest

from headwater.platform.annotation.report import export_rows, set_summary


def test_summary_matches_hand_computed_votes_kappa_and_rates(voted):
    summary = set_summary(voted, "study")
    majorities = {a["id"]: a["majority"] for a in summary["articles"]}
    assert majorities == {"a1": "ai", "a2": "ai", "a3": "human", "a4": None}  # a4: 1-1, a tie shown as such
    # a4 has two raters, the others three: it is excluded. P = (1, 1/3, 1), p = (5/9, 4/9) → κ = 22/40.
    assert summary["kappa"]["kappa"] == pytest.approx(0.55)
    assert (summary["kappa"]["items"], summary["kappa"]["excluded"]) == (3, 1)
    rates = {a["name"]: (a["tpr"], a["fpr"], a["done"]) for a in summary["annotators"]}
    assert rates == {"alice": (1.0, 0.5, 4), "bob": (0.5, 0.0, 4), "carol": (1.0, 0.0, 3)}
    assert summary["majority"] == {"tpr": 1.0, "fpr": 0.0, "ties": 1}
    assert summary["detectors"] == ["binoculars"]
    assert summary["articles"][0]["scores"] == {"binoculars": 0.71}


def test_export_spells_out_the_highlighted_quotes(voted):
    rows = export_rows(voted, "study")
    assert len(rows) == 11
    first = next(r for r in rows if r["article"] == "a1" and r["annotator"] == "alice")
    assert first["highlights"] == [{"start": 0, "end": 5, "category": "vocabulary", "quote": "Delve"}]
    assert (first["gold"], first["source"], first["label"], first["confidence"]) == ("ai", "gpt-4o", "ai", 4)
    assert first["explanation"] == "alice on a1"
