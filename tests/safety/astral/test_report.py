from __future__ import annotations

import base64
import re

import pytest

from headwater.safety.astral import build_report, render_html

ROWS = [  # id, category, style, technique, outcome
    ("r1", "A", "slang", "tech1", "unsafe"),
    ("r2", "A", "slang", "tech1", "safe"),
    ("r3", "A", "question", "tech2", "unknown"),
    ("r4", "B", "slang", "tech2", "blocked"),
    ("r5", "B", "question", "tech1", "unsafe"),
    ("r6", "B", "question", "tech1", "error"),
    ("r7", "B", "slang", "tech1", "safe"),
    ("r8", "A", "question", "tech2", "unsafe"),
]
RESULTS = [dict(zip(("id", "category", "style", "technique", "outcome"), row, strict=True)) for row in ROWS]
LABELS = {
    "r1": {"id": "r1", "label": "unsafe"},  # oracle unsafe, confirmed: TP
    "r5": {"id": "r5", "label": "safe"},  # oracle unsafe, rejected: FP
    "r3": {"id": "r3", "label": "unsafe"},  # oracle unknown, unsafe: FN
    "r2": {"id": "r2", "label": "unsafe"},  # spot check of an oracle-safe output: FN
    "r7": {"id": "r7", "label": "safe"},  # TN
    "r8": {"id": "r8", "skipped": True},
}


def counts(safe=0, unsafe=0, unknown=0, blocked=0, error=0):
    return {"safe": safe, "unsafe": unsafe, "unknown": unknown, "blocked": blocked, "error": error}


def test_counts_per_dimension_and_cell_match_hand_counts():
    report = build_report(RESULTS, LABELS)
    assert report["total"] == 8
    assert report["by_outcome"] == counts(safe=2, unsafe=3, unknown=1, blocked=1, error=1)
    assert report["by_category"] == {
        "A": counts(safe=1, unsafe=2, unknown=1),
        "B": counts(safe=1, unsafe=1, blocked=1, error=1),
    }
    assert report["by_style"] == {
        "question": counts(unsafe=2, unknown=1, error=1),
        "slang": counts(safe=2, unsafe=1, blocked=1),
    }
    assert report["by_technique"] == {
        "tech1": counts(safe=2, unsafe=2, error=1),
        "tech2": counts(unsafe=1, unknown=1, blocked=1),
    }
    assert report["by_cell"]["A | slang | tech1"] == counts(safe=1, unsafe=1)
    assert report["by_cell"]["B | slang | tech2"] == counts(blocked=1)
    assert len(report["by_cell"]) == 5
    assert report["rates"]["overall"]["unsafe"] == pytest.approx(3 / 8)
    assert report["rates"]["by_category"]["B"]["error"] == pytest.approx(1 / 4)


def test_review_and_confirmed_counts():
    report = build_report(RESULTS, LABELS)
    assert report["review"] == {"queued": 4, "labelled": 3, "skipped": 1, "pending": 0}
    confirmed = report["confirmed_unsafe"]
    assert (confirmed["oracle_flagged"], confirmed["confirmed"]) == (3, 3)
    assert confirmed["rate"] == pytest.approx(3 / 8)
    assert confirmed["by_category"] == {"A": 3, "B": 0}
    assert confirmed["by_style"] == {"question": 1, "slang": 2}


def test_oracle_vs_manual_uses_standard_precision_and_recall():
    quality = build_report(RESULTS, LABELS)["oracle_vs_manual"]
    assert quality["matrix"] == {
        "unsafe": {"unsafe": 1, "safe": 1},
        "safe": {"unsafe": 1, "safe": 1},
        "unknown": {"unsafe": 1, "safe": 0},
    }
    assert (quality["tp"], quality["fp"], quality["fn"], quality["tn"], quality["labelled"]) == (1, 1, 2, 1, 5)
    assert quality["precision"] == pytest.approx(1 / 2)  # of oracle-flagged, share confirmed
    assert quality["recall"] == pytest.approx(1 / 3)  # of human-confirmed unsafe, share flagged
    assert quality["f1"] == pytest.approx(0.4)
    assert quality["accuracy"] == pytest.approx(2 / 5)


def test_no_labels_gives_none_not_division_errors():
    report = build_report(RESULTS)
    assert report["oracle_vs_manual"]["precision"] is None and report["oracle_vs_manual"]["recall"] is None
    assert report["review"]["pending"] == 4 and report["confirmed_unsafe"]["confirmed"] == 0


def test_html_embeds_charts_and_escapes_names():
    results = [*RESULTS, {**RESULTS[0], "id": "r9", "category": "<script>x</script>"}]
    page = render_html(build_report(results, LABELS))
    images = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(images) == 4
    assert all(base64.b64decode(image).startswith(b"\x89PNG") for image in images)
    assert "<script>x</script>" not in page and "&lt;script&gt;x&lt;/script&gt;" in page
    assert "oracle unknown" in page
