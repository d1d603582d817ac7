"""Defences layered on any guard: segment-wise moderation, a normalised view, and an ensemble.

Virus (arXiv 2501.17433, §4) appends its optimised block after a benign response, so the benign part can mask it
from a guard that reads the whole answer; reading segments on their own, or a view with the odd characters and
casing optimisation leaves normalised away, are cheap counters. Each is a `Guard`, so the Virus harness measures
its leakage and its benign false-positive rate (`false_positive_rate`) like any other.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

from headwater.errors import InvalidRequestError
from headwater.safety.guard.verdict import Conversation, Guard, Item, Verdict, as_conversation


def combine(verdicts: Sequence[Verdict]) -> Verdict:
    """Unsafe if any is: categories united, the highest score, the first parse error kept."""
    unsafe = [verdict for verdict in verdicts if verdict.flagged]
    scores = [verdict.score for verdict in verdicts if verdict.score is not None]
    categories = tuple(dict.fromkeys(code for verdict in unsafe for code in verdict.categories))
    error = next((verdict.error for verdict in verdicts if verdict.error), None)
    return Verdict("unsafe" if unsafe else "safe", categories, max(scores) if scores else None, error)


def _moderate_views(guard: Guard, views: list[list[Conversation]]) -> list[Verdict]:
    """One guard call over every view of every item, then one combined verdict per item."""
    flat = [view for item_views in views for view in item_views]
    verdicts = iter(guard.moderate(flat))
    return [combine([next(verdicts) for _ in item_views]) for item_views in views]


def segments(text: str, max_chars: int) -> list[str]:
    """Consecutive pieces of at most `max_chars`, cut at whitespace where the text has any."""
    pieces, current = [], ""
    for word in re.findall(r"\S+\s*", text):
        while len(word) > max_chars:
            if current:
                pieces.append(current)
                current = ""
            pieces.append(word[:max_chars])
            word = word[max_chars:]
        if len(current) + len(word) > max_chars and current:
            pieces.append(current)
            current = ""
        current += word
    return [piece.strip() for piece in [*pieces, current] if piece.strip()]


class SegmentGuard:
    """Moderates the whole example and each segment of its last turn on its own; unsafe if any view is."""

    def __init__(self, guard: Guard, max_chars: int = 160) -> None:
        if max_chars < 8:
            raise InvalidRequestError(f"max_chars must be at least 8, got {max_chars}")
        self.guard, self.max_chars = guard, max_chars
        self.name = f"segments({guard.name})"

    def views(self, item: Item) -> list[Conversation]:
        """The whole conversation, then one copy per segment of the last message."""
        conversation = as_conversation(item)
        *history, last = conversation
        pieces = segments(last["content"], self.max_chars)
        if len(pieces) < 2:
            return [conversation]
        return [conversation] + [[*history, {"role": last["role"], "content": piece}] for piece in pieces]

    def moderate(self, items: Sequence[Item]) -> list[Verdict]:
        return _moderate_views(self.guard, [self.views(item) for item in items])


def normalise(text: str) -> str:
    """NFKC, lower case, only letters, digits and basic punctuation kept, whitespace collapsed."""
    folded = unicodedata.normalize("NFKC", text).lower()
    return re.sub(r"\s+", " ", re.sub(r"[^a-z0-9.,;:!?' ]+", " ", folded)).strip()


class NormalisedGuard:
    """Moderates the example and its normalised view; unsafe if either is."""

    def __init__(self, guard: Guard) -> None:
        self.guard = guard
        self.name = f"normalised({guard.name})"

    def moderate(self, items: Sequence[Item]) -> list[Verdict]:
        views = []
        for item in items:
            conversation = as_conversation(item)
            plain = [{"role": message["role"], "content": normalise(message["content"])} for message in conversation]
            views.append([conversation, plain])
        return _moderate_views(self.guard, views)


class EnsembleGuard:
    """Several guards; unsafe when at least `votes` of them say so (1: any guard, the strictest)."""

    def __init__(self, guards: Sequence[Guard], votes: int = 1) -> None:
        if not guards:
            raise InvalidRequestError("an ensemble needs at least one guard")
        if not 1 <= votes <= len(guards):
            raise InvalidRequestError(f"votes must be in [1, {len(guards)}], got {votes}")
        self.guards, self.votes = list(guards), votes
        self.name = "ensemble(" + ",".join(guard.name for guard in guards) + ")"

    def moderate(self, items: Sequence[Item]) -> list[Verdict]:
        per_guard = [guard.moderate(list(items)) for guard in self.guards]
        verdicts = []
        for item_verdicts in zip(*per_guard, strict=True):
            merged = combine(item_verdicts)
            if sum(verdict.flagged for verdict in item_verdicts) < self.votes:
                merged = Verdict("safe", (), merged.score, merged.error)
            verdicts.append(merged)
        return verdicts
