"""Benchmark runners on small local files with scripted judges: metrics, failure rate, position bias."""

from __future__ import annotations

import json

import pytest

from headwater.errors import InvalidRequestError
from headwater.judge import Judge
from headwater.judge.bench import bench
from tests.judge.test_judge import Scripted, slot_one


def _write(tmp_path, rows):
    path = tmp_path / "bench.jsonl"
    path.write_text("\n".join(json.dumps(row) for row in rows))
    return path


PAIRS = [
    {
        "id": i,
        "subset": "alpacaeval-easy" if i < 4 else "hep-python",
        "prompt": f"q{i}",
        "chosen": f"a good and complete answer {i}",
        "rejected": f"bad {i}",
    }
    for i in range(8)
]


def prefers_longer(text, call):
    a = text.split("Response A:")[1].split("Response B:")[0]
    b = text.split("Response B:")[1].split("Criteria:")[0]
    return f"**Result:** {'A' if len(a) > len(b) else 'B'}"


def test_pairwise_accuracy_sections_and_length_bias(tmp_path):
    report = bench("pairwise", _write(tmp_path, PAIRS), Judge(Scripted(prefers_longer), order="random"))
    assert report["metrics"]["accuracy"] == 1.0 and report["parse_failure_rate"] == 0
    assert report["rewardbench"]["chat"] == 1.0 and report["rewardbench"]["overall"] == 1.0
    assert report["longer_response_win_rate"] == 1.0
    assert report["template_version"] == "headwater-v1"


def test_slot_one_bias_shows_in_both_orders(tmp_path):
    report = bench("pairwise", _write(tmp_path, PAIRS), Judge(Scripted(slot_one), order="both"), policy="half")
    assert report["position_consistency"] == 0.0
    assert report["metrics"]["accuracy"] == 0.5  # every item failed as inconsistent: half credit each
    assert report["failures"] == {"inconsistent": 8}


def test_absolute_correlation_with_reference_scores(tmp_path):
    rows = [
        {"instruction": f"q{s}", "response": "r" * s, "rubric": "good", "score": 2 * s, "source": "model"}
        for s in range(1, 6)
    ]
    judge = Judge(Scripted(lambda text, call: f"**Result:** {text.split('```' + chr(10) + 'q')[1][0]}"))
    report = bench("absolute", _write(tmp_path, rows), judge)
    assert report["metrics"]["pearson"] == pytest.approx(1.0) and report["reference_source"] == ["model"]


def test_classification_and_bad_lines(tmp_path):
    rows = [{"instruction": "q", "response": "r", "criteria": "c", "label": label} for label in ("Yes", "No")]
    report = bench("classification", _write(tmp_path, rows), Judge(Scripted(lambda t, c: "Result: Yes")))
    assert report["metrics"]["accuracy"] == 0.5
    with pytest.raises(InvalidRequestError, match="line 1: field 'chosen'"):
        bench("pairwise", _write(tmp_path, [{"prompt": "q", "rejected": "x"}]), Judge(Scripted(slot_one)))
