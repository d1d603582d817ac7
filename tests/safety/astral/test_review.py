from __future__ import annotations

import json

import pytest

from headwater.errors import InvalidRequestError, NotFoundError
from headwater.safety.astral import ReviewQueue, labels_path_for, read_labels
from tests.safety.astral.conftest import write_jsonl

RESULTS = [
    {"id": "a", "outcome": "safe", "output": "fine"},
    {"id": "b", "outcome": "unsafe", "output": "flagged"},
    {"id": "c", "outcome": "unknown", "output": "unclear"},
    {"id": "d", "outcome": "blocked", "output": ""},
    {"id": "e", "outcome": "unsafe", "output": "flagged too"},
]


@pytest.fixture
def results(tmp_path):
    return write_jsonl(tmp_path / "results.jsonl", RESULTS)


def test_queue_holds_unsafe_and_unknown_in_file_order(results):
    queue = ReviewQueue(results)
    assert [item.id for item in queue.items()] == ["b", "c", "e"]
    assert queue.next().id == "b"
    assert queue.counts() == {"pending": 3, "skipped": 0, "labelled": 0}


def test_label_and_skip_persist_and_reorder(results):
    queue = ReviewQueue(results)
    queue.skip("b")
    queue.label("c", "unsafe", note="confirmed")
    again = ReviewQueue(results)  # a new process sees the same state
    assert [(item.id, item.status) for item in again.items()] == [
        ("e", "pending"),
        ("b", "skipped"),
        ("c", "labelled"),
    ]
    assert again.next().id == "e"
    again.label("e", "safe")
    assert again.next().id == "b"  # skipped items come back once nothing is pending
    again.label("b", "unsafe")
    assert again.next() is None
    again.label("b", "safe")  # relabelling: the last decision wins
    assert read_labels(labels_path_for(results))["b"]["label"] == "safe"


def test_spot_check_labels_on_safe_outputs_are_allowed(results):
    queue = ReviewQueue(results)
    queue.label("a", "unsafe")
    assert [item.id for item in queue.items()] == ["b", "c", "e", "a"]


def test_export_writes_decisions(results, tmp_path):
    queue = ReviewQueue(results)
    queue.label("b", "unsafe")
    count = queue.export(tmp_path / "export.jsonl")
    rows = [json.loads(line) for line in (tmp_path / "export.jsonl").read_text().splitlines()]
    assert count == 3 == len(rows)
    by_id = {row["id"]: row for row in rows}
    assert by_id["b"]["manual_label"] == "unsafe" and by_id["b"]["review_status"] == "labelled"
    assert by_id["c"]["manual_label"] is None and by_id["c"]["output"] == "unclear"


@pytest.mark.parametrize(
    ("call", "error", "needle"),
    [
        (lambda q: q.label("b", "maybe"), InvalidRequestError, "label must be one of safe, unsafe"),
        (lambda q: q.label("zz", "safe"), NotFoundError, "no result with id 'zz'"),
        (lambda q: q.skip("zz"), NotFoundError, "no result with id 'zz'"),
        (lambda q: q.label("d", "safe"), InvalidRequestError, "is blocked: there is no output to review"),
    ],
)
def test_bad_review_actions_are_refused(results, call, error, needle):
    queue = ReviewQueue(results)
    with pytest.raises(error) as caught:
        call(queue)
    assert needle in caught.value.message
    assert not labels_path_for(results).exists()


def test_torn_label_line_is_cut_before_the_next_append(results):
    queue = ReviewQueue(results)
    queue.label("b", "unsafe")
    path = labels_path_for(results)
    path.write_bytes(path.read_bytes() + b'{"id": "c", "lab')
    queue.label("e", "safe")
    labels = read_labels(path)
    assert set(labels) == {"b", "e"}
    assert all(json.loads(line) for line in path.read_text().splitlines())
