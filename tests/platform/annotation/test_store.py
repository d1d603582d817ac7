from __future__ import annotations

import pytest

from headwater.errors import ConflictError, InvalidRequestError, NotFoundError
from headwater.platform.annotation.store import Annotation, Article, Highlight
from tests.platform.annotation.conftest import ARTICLES, row_ids


def test_each_annotator_gets_every_article_in_a_seeded_order_then_none(annotations):
    panel = ["alice", "bob", "carol", "dan", "erin"]
    annotations.load_set("study", ARTICLES, panel)
    orders = {}
    for who in panel:
        seen = []
        while (found := annotations.next_article(who)) is not None:
            row_id, article, done, assigned = found
            assert (done, assigned) == (len(seen), 4)
            seen.append(article.external_id)
            annotations.submit(who, row_id, Annotation("ai", 3))
        orders[who] = seen
    assert all(sorted(order) == ["a1", "a2", "a3", "a4"] for order in orders.values())
    assert len({tuple(order) for order in orders.values()}) > 1  # shuffled per annotator, seeded by set and name
    assert annotations.next_article("frank") is None


def test_a_bad_set_leaves_nothing_behind(annotations):
    with pytest.raises(InvalidRequestError, match="a1.*twice"):
        annotations.load_set("study", [ARTICLES[0], ARTICLES[0]], ["alice"])
    with pytest.raises(InvalidRequestError, match="set name"):
        annotations.load_set("../etc", ARTICLES, ["alice"])
    assert annotations.set_names() == []
    annotations.load_set("study", ARTICLES, ["alice"])
    with pytest.raises(ConflictError, match="already exists"):
        annotations.load_set("study", ARTICLES[:1], ["bob"])
    articles, _answers, annotators = annotations.set_contents("study")
    assert len(articles) == 4 and annotators == ["alice"]


def test_submit_checks_assignment_fields_and_duplicates(annotations):
    annotations.load_set("study", ARTICLES, ["alice"])
    a1 = row_ids(annotations, "alice")["a1"]
    with pytest.raises(NotFoundError, match="not assigned to bob"):
        annotations.submit("bob", a1, Annotation("ai", 3))
    with pytest.raises(InvalidRequestError, match="confidence"):
        annotations.submit("alice", a1, Annotation("ai", 6))
    with pytest.raises(InvalidRequestError, match="label"):
        annotations.submit("alice", a1, Annotation("robot", 3))
    with pytest.raises(InvalidRequestError, match="outside the article"):
        annotations.submit("alice", a1, Annotation("ai", 3, (Highlight(10, 500),)))
    annotations.submit("alice", a1, Annotation("ai", 3))
    with pytest.raises(ConflictError, match="already annotated"):
        annotations.submit("alice", a1, Annotation("human", 3))


def test_assign_adds_annotators_once(annotations):
    annotations.load_set("study", ARTICLES, ["alice"])
    annotations.assign("study", ["alice", "bob"])
    assert annotations.set_contents("study")[2] == ["alice", "bob"]
    assert annotations.next_article("bob")[3] == 4
    with pytest.raises(NotFoundError):
        annotations.assign("nope", ["bob"])


def test_sets_are_served_in_load_order(annotations):
    annotations.load_set("first", [Article("x", "one text")], ["alice"])
    annotations.load_set("second", [Article("y", "two text")], ["alice"])
    row_id, article, _done, assigned = annotations.next_article("alice")
    assert (article.external_id, assigned) == ("x", 2)
    annotations.submit("alice", row_id, Annotation("human", 2))
    assert annotations.next_article("alice")[1].external_id == "y"
