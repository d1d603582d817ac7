"""JSONL records to tasks: classification `labels` as a list or as label → description."""

from __future__ import annotations

import pytest

from headwater.errors import InvalidRequestError
from headwater.judge.inputs import read_gold, task_from_record


def test_labels_object_gives_descriptions_in_order():
    record = {"instruction": "q", "response": "r", "criteria": "c", "labels": {"Yes": "good", "No": "bad"}}
    task = task_from_record("classification", record)
    assert task.labels == ("Yes", "No") and task.label_descriptions == {"Yes": "good", "No": "bad"}
    plain = task_from_record("classification", {**record, "labels": ["safe", "toxic"]})
    assert plain.labels == ("safe", "toxic") and plain.label_descriptions is None


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        ({"Yes": "good", "No": 3}, "line 2: labels must be a list of strings or an object"),
        ({"Yes": "good", "No": ""}, "line 2: labels needs a non-empty description"),
        ("Yes", "line 2: labels must be a list"),
    ],
)
def test_bad_labels_name_the_line_and_field(labels, message):
    record = {"instruction": "q", "response": "r", "criteria": "c", "labels": labels}
    with pytest.raises(InvalidRequestError, match=message) as error:
        task_from_record("classification", record, "line 2")
    assert error.value.param == "line 2.labels"


def test_gold_verdicts_are_read_with_the_line_and_field_named(tmp_path):
    path = tmp_path / "gold.jsonl"
    path.write_text('{"score": 4}\n\n{"score": 2}\n')
    assert read_gold("absolute", path) == [4, 2]
    path.write_text('{"winner": "A"}\n{"winner": "B"}\n')
    assert read_gold("pairwise", path) == ["A", "B"]
    for text, kind, message in [
        ('{"score": 4}\n{"other": 1}\n', "absolute", "line 2: field 'score'"),
        ('{"score": "four"}\n', "absolute", "must be an integer"),
        ('{"score": 4}\n{"score": 4\n', "absolute", "line 2"),
        ('{"label": "Yes"}\n', "rank", "kind must be one of"),
    ]:
        path.write_text(text)
        with pytest.raises(InvalidRequestError, match=message):
            read_gold(kind, path)


def test_an_unknown_task_kind_is_an_error_not_a_classification():
    with pytest.raises(InvalidRequestError, match="kind must be one of absolute, pairwise, classification"):
        task_from_record("classify", {"instruction": "x", "response": "y"})
