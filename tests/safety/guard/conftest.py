"""Guard fixtures: a keyword guard (a stand-in with known behaviour) and synthetic "forbidden marker" texts."""

from __future__ import annotations

import random
from collections.abc import Sequence

import pytest

from headwater.safety.guard import Verdict, as_conversation

MARKER = "zorblax"
TOPICS = ["river", "garden", "kitchen", "library", "station", "market", "forest", "museum"]
VERBS = ["visits", "cleans", "paints", "describes", "maps", "opens"]


class KeywordGuard:
    """Flags a conversation whose last turn holds `keyword` (case-sensitive) within its first `reach` characters:
    a guard that a long benign text can dilute, as segment-wise moderation assumes."""

    def __init__(self, keyword: str = MARKER, reach: int = 10_000) -> None:
        self.keyword, self.reach, self.calls = keyword, reach, 0
        self.name = f"keyword:{keyword}"

    def moderate(self, items: Sequence) -> list[Verdict]:
        self.calls += 1
        verdicts = []
        for item in items:
            text = as_conversation(item)[-1]["content"][: self.reach]
            verdicts.append(Verdict("unsafe", ("S2",), 0.9) if self.keyword in text else Verdict("safe", (), 0.1))
        return verdicts


@pytest.fixture
def keyword_guard() -> type[KeywordGuard]:
    return KeywordGuard


def marker_texts(count: int, seed: int) -> tuple[list[str], list[int]]:
    """Harmless sentences; label 1 when the made-up marker topic is mentioned."""
    rng = random.Random(seed)
    texts, labels = [], []
    for index in range(count):
        topic, verb = rng.choice(TOPICS), rng.choice(VERBS)
        marked = index % 2 == 1
        subject = f"the {MARKER}" if marked else f"the {rng.choice(TOPICS)}"
        texts.append(f"Someone {verb} {subject} near the {topic} today.")
        labels.append(int(marked))
    return texts, labels


@pytest.fixture
def labelled_texts() -> tuple[list[str], list[int]]:
    return marker_texts(48, seed=1)
