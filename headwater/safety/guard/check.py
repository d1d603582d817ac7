"""Moderate a fine-tuning JSONL before training: every example as the conversation it will be trained as.

Lines are chat (`messages`) or `prompt`/`completion` rows, the two shapes the SFT trainer takes; a prompt/completion
row is moderated as the user turn and the assistant turn it becomes under the chat template. The report fails closed:
an unparsed guard reply counts as flagged, and a score over the threshold flags the example.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from pathlib import Path

from headwater.errors import InvalidRequestError
from headwater.jsonl import read_jsonl
from headwater.safety.guard.verdict import Conversation, Guard, as_conversation, thresholded

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CheckItem:
    """The decision on one line of the file."""

    line: int
    verdict: str
    categories: list[str]
    score: float | None
    error: str | None


@dataclass(frozen=True)
class CheckReport:
    """Counts and per-line decisions; `flagged_fraction` is what a platform compares with its rejection limit."""

    total: int
    flagged: int
    flagged_fraction: float
    items: list[CheckItem]

    def to_dict(self) -> dict:
        """The JSON shape `headwater guard check --json` prints."""
        return asdict(self)


def example_conversation(record: object, line: int) -> Conversation:
    """A fine-tuning row as the conversation it trains (see `as_conversation`), errors naming the line."""
    if not isinstance(record, dict):
        raise InvalidRequestError(f"line {line}: expected a JSON object", param=f"line {line}")
    try:
        return as_conversation(record)
    except InvalidRequestError as error:
        raise InvalidRequestError(f"line {line}: {error.message}", param=f"line {line}.{error.param}") from error


def read_examples(path: Path) -> list[tuple[int, Conversation]]:
    """(line number, conversation) for every example in a fine-tuning JSONL; the first bad line raises."""
    return [(line, example_conversation(record, line)) for line, record in read_jsonl(path, "fine-tuning example")]


def check_examples(
    examples: list[tuple[int, Conversation]], guard: Guard, threshold: float | None = None
) -> CheckReport:
    """Moderate every example; over `threshold` (when the guard gives a score) or unparsed means flagged.
    With defences around a scoring guard, wrap the scoring guard in `ThresholdGuard` instead: here the threshold
    re-decides the combined verdict by its score alone."""
    if threshold is not None and not 0.0 <= threshold <= 1.0:
        raise InvalidRequestError(f"threshold must be in [0, 1], got {threshold}", param="threshold")
    verdicts = [thresholded(verdict, threshold) for verdict in guard.moderate([conv for _, conv in examples])]
    items = [
        CheckItem(line, verdict.verdict, list(verdict.categories), verdict.score, verdict.error)
        for (line, _), verdict in zip(examples, verdicts, strict=True)
    ]
    for item in items:  # every decision is logged: a platform keeps the trail of what it rejected and why
        logger.info(
            "line %d: %s %s score=%s error=%s", item.line, item.verdict, item.categories, item.score, item.error
        )
    flagged = sum(item.verdict == "unsafe" for item in items)
    return CheckReport(len(items), flagged, flagged / len(items) if items else 0.0, items)


def check_file(path: Path, guard: Guard, threshold: float | None = None) -> CheckReport:
    """`check_examples` over a fine-tuning JSONL file."""
    return check_examples(read_examples(path), guard, threshold)
