"""The numbers of a red-teaming run: outcomes per category, style, technique and cell; review; oracle quality.

ASTRAL (arXiv 2501.17749) reports oracle-flagged and human-confirmed unsafe outputs per category; only confirmed
ones count. The oracle-vs-manual confusion uses the standard names with "unsafe" as the positive class:
precision = TP / (TP + FP) (share of oracle-flagged outputs a human confirms), recall = TP / (TP + FN) (share of
human-confirmed unsafe outputs the oracle flagged). The reference work swaps the two names. An oracle `unknown`
is not a positive prediction; it has its own row in the matrix.
"""

from __future__ import annotations

from collections import Counter

from headwater.safety.astral.execute import OUTCOMES
from headwater.safety.astral.review import REVIEWED

GROUPS = {"by_category": ("category",), "by_style": ("style",), "by_technique": ("technique",)}
CELL_KEY = ("category", "style", "technique")


def _ratio(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


def outcome_counts(results: list[dict]) -> dict[str, int]:
    """Outcome -> count, every outcome present (zero when absent)."""
    counted = Counter(result["outcome"] for result in results)
    return {outcome: counted.get(outcome, 0) for outcome in OUTCOMES}


def _group(results: list[dict], fields: tuple[str, ...]) -> dict[str, list[dict]]:
    groups: dict[str, list[dict]] = {}
    for result in results:
        groups.setdefault(" | ".join(str(result.get(f)) for f in fields), []).append(result)
    return dict(sorted(groups.items()))


def _rates(counts: dict[str, int]) -> dict[str, float | None]:
    total = sum(counts.values())
    return {outcome: _ratio(count, total) for outcome, count in counts.items()}


def confusion(results: list[dict], labels: dict[str, dict]) -> dict:
    """Oracle verdict (rows) vs manual label (columns) over the labelled results, with precision and recall."""
    matrix = {verdict: {"unsafe": 0, "safe": 0} for verdict in ("unsafe", "safe", "unknown")}
    for result in results:
        label = labels.get(str(result["id"]), {}).get("label")
        if label in ("safe", "unsafe") and result["outcome"] in matrix:
            matrix[result["outcome"]][label] += 1
    tp, fp = matrix["unsafe"]["unsafe"], matrix["unsafe"]["safe"]
    fn = matrix["safe"]["unsafe"] + matrix["unknown"]["unsafe"]
    tn = matrix["safe"]["safe"] + matrix["unknown"]["safe"]
    precision, recall = _ratio(tp, tp + fp), _ratio(tp, tp + fn)
    f1 = 2 * precision * recall / (precision + recall) if precision and recall else None
    return {
        "matrix": matrix,
        "labelled": tp + fp + fn + tn,
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "tn": tn,
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "accuracy": _ratio(tp + tn, tp + fp + fn + tn),
    }


def build_report(results: list[dict], labels: dict[str, dict] | None = None) -> dict:
    """The report as plain JSON-ready data; see docs/redteam.md for every key."""
    labels = labels or {}

    def confirmed(group: list[dict]) -> int:
        return sum(labels.get(str(r["id"]), {}).get("label") == "unsafe" for r in group)

    report: dict = {"total": len(results), "by_outcome": outcome_counts(results)}
    for key, fields in GROUPS.items():
        report[key] = {name: outcome_counts(group) for name, group in _group(results, fields).items()}
    report["by_cell"] = {name: outcome_counts(group) for name, group in _group(results, CELL_KEY).items()}
    report["rates"] = {"overall": _rates(report["by_outcome"])} | {
        key: {name: _rates(counts) for name, counts in report[key].items()} for key in GROUPS
    }
    queued = [r for r in results if r["outcome"] in REVIEWED]
    flagged = [r for r in results if r["outcome"] == "unsafe"]
    decided = [r for r in queued if labels.get(str(r["id"]), {}).get("label")]
    skipped = sum(bool(labels.get(str(r["id"]), {}).get("skipped")) for r in queued if r not in decided)
    report["review"] = {
        "queued": len(queued),
        "labelled": len(decided),
        "skipped": skipped,
        "pending": len(queued) - len(decided) - skipped,
    }
    report["confirmed_unsafe"] = {
        "oracle_flagged": len(flagged),
        "confirmed": confirmed(results),
        "rate": _ratio(confirmed(results), len(results)),
    }
    for key, fields in GROUPS.items():
        report["confirmed_unsafe"][key] = {name: confirmed(group) for name, group in _group(results, fields).items()}
    report["oracle_vs_manual"] = confusion(results, labels)
    return report
