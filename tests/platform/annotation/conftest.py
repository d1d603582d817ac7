"""A small gold-labelled set and the panel's answers, with Fleiss' kappa and rates computed by hand in the tests."""

from __future__ import annotations

import pytest

from headwater.platform.annotation.store import Annotation, AnnotationStore, Article, Highlight
from headwater.platform.store import Store

ARTICLES = [
    Article("a1", "Delve into the vibrant tapestry of coastal life.", "Coasts", "ai", "gpt-4o", {"binoculars": 0.71}),
    Article("a2", "It is crucial to note the pivotal role of tides.", "Tides", "ai", "claude", {"binoculars": 0.83}),
    Article("a3", "Yeah, the ferry was late again, said Tom.", "Ferry", "human", "news", {"binoculars": 1.02}),
    Article("a4", "The harbour smelled of diesel and rain.", "Harbour", "human", "news", {"binoculars": 0.95}),
]
VOTES = {
    "a1": {"alice": "ai", "bob": "ai", "carol": "ai"},
    "a2": {"alice": "ai", "bob": "human", "carol": "ai"},
    "a3": {"alice": "human", "bob": "human", "carol": "human"},
    "a4": {"alice": "ai", "bob": "human"},
}


@pytest.fixture
def annotations(tmp_path) -> AnnotationStore:
    store = Store(f"sqlite:///{tmp_path / 'store.db'}")
    yield AnnotationStore(store.engine)
    store.engine.dispose()


def row_ids(store: AnnotationStore, annotator: str) -> dict[str, int]:
    """external id → row id of the articles assigned to `annotator`, read through the public listing."""
    articles, _answers, _annotators = store.set_contents("study")
    return {row.external_id: row.id for row in articles}


@pytest.fixture
def voted(annotations: AnnotationStore) -> AnnotationStore:
    annotations.load_set("study", ARTICLES, ["alice", "bob", "carol"])
    ids = row_ids(annotations, "alice")
    for article, votes in VOTES.items():
        for annotator, label in votes.items():
            answer = Annotation(label, 4, (Highlight(0, 5, "vocabulary"),), f"{annotator} on {article}")
            annotations.submit(annotator, ids[article], answer)
    return annotations
