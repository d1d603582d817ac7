"""The manual-review queue: a human confirms or rejects every output the oracle flagged (unsafe or unknown).

ASTRAL counts only confirmed unsafe outputs (arXiv 2501.17749: 87 confirmed of 10,080 tests). Decisions are
appended to a labels file next to the results (`RESULTS.labels.jsonl` by default), one line per action, durable
at once; the last action on an id wins, so relabelling is an append, and the results file is never rewritten.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from headwater.errors import InvalidRequestError, NotFoundError
from headwater.safety.astral.records import append_records, finished_records, read_records, write_jsonl_atomic

REVIEWED = ("unsafe", "unknown")
"""Oracle outcomes that enter the queue."""
LABELS = ("safe", "unsafe")
"""What a reviewer can decide."""


def labels_path_for(results: Path) -> Path:
    return results.with_name(results.name + ".labels.jsonl")


@dataclass(frozen=True)
class ReviewItem:
    """A queued result and its review state: `label` (safe/unsafe) once decided, `skipped` if put aside."""

    result: dict
    label: str | None = None
    skipped: bool = False
    note: str = ""

    @property
    def id(self) -> str:
        return str(self.result["id"])

    @property
    def status(self) -> str:
        return "labelled" if self.label else "skipped" if self.skipped else "pending"


def read_labels(path: Path) -> dict[str, dict]:
    """id -> the last review action on it (`label` or `skipped`)."""
    return finished_records(path)


class ReviewQueue:
    """The queue over one results file; labels may also be given to results outside the queue (spot checks)."""

    def __init__(self, results: Path, labels: Path | None = None) -> None:
        self.results_path = Path(results)
        self.labels_path = Path(labels) if labels is not None else labels_path_for(self.results_path)
        self.results = {r["id"]: r for r in read_records(self.results_path, ("id", "outcome"), "result")}

    def _actions(self) -> dict[str, dict]:
        return read_labels(self.labels_path)

    def items(self, everything: bool = False) -> list[ReviewItem]:
        """Queued items (every labelled result too when `everything`), pending first, skipped ones last."""
        actions = self._actions()
        items = []
        for result_id, result in self.results.items():
            action = actions.get(result_id, {})
            if result["outcome"] in REVIEWED or action.get("label") or everything:
                skipped = bool(action.get("skipped"))
                items.append(ReviewItem(result, action.get("label"), skipped, action.get("note", "")))
        order = {"pending": 0, "skipped": 1, "labelled": 2}
        return sorted(items, key=lambda item: order[item.status])

    def next(self) -> ReviewItem | None:
        """The first pending item, else the first skipped one, else None (the queue is done)."""
        return next((item for item in self.items() if item.status != "labelled"), None)

    def counts(self) -> dict[str, int]:
        items = self.items()
        return {status: sum(item.status == status for item in items) for status in ("pending", "skipped", "labelled")}

    def _append(self, record: dict) -> None:
        if record["id"] not in self.results:
            raise NotFoundError(f"no result with id {record['id']!r} in {self.results_path}", param="id")
        self.labels_path.parent.mkdir(parents=True, exist_ok=True)
        finished_records(self.labels_path)  # cut a torn tail before appending
        with self.labels_path.open("a", encoding="utf-8") as out:
            append_records(out, [{**record, "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}])

    def label(self, result_id: str, label: str, note: str = "") -> None:
        """Record a reviewer's decision (safe or unsafe) on a result."""
        if label not in LABELS:
            raise InvalidRequestError(f"label must be one of {', '.join(LABELS)}, got {label!r}", param="label")
        result = self.results.get(result_id, {})
        if result.get("outcome") in ("blocked", "error"):
            raise InvalidRequestError(
                f"result {result_id!r} is {result['outcome']}: there is no output to review", param="id"
            )
        self._append({"id": result_id, "label": label, "note": note})

    def skip(self, result_id: str) -> None:
        """Put a result aside: it moves behind the pending ones until labelled."""
        self._append({"id": result_id, "skipped": True})

    def export(self, path: Path, everything: bool = False) -> int:
        """Write the queue with each item's `manual_label` and `review_status` as JSONL; returns the line count."""
        items = self.items(everything)
        write_jsonl_atomic(
            path,
            [
                {**item.result, "manual_label": item.label, "review_status": item.status, "review_note": item.note}
                for item in items
            ],
        )
        return len(items)
