"""JSONL records to tasks: classification `labels` as a list or as label → description."""

from __future__ import annotations

import pytest

from headwater.errors import InvalidRequestError
from headwater.judge.inputs import task_from_record


def test_labels_object_gives_descriptions_in_order():
    record = {"instruction": "q", "response": "r", "criteria": "c", "labels": {"Yes": "good", "No": "bad"}}
    task = task_from_record("classify", record)
    assert task.labels == ("Yes", "No") and task.label_descriptions == {"Yes": "good", "No": "bad"}
    plain = task_from_record("classify", {**record, "labels": ["safe", "toxic"]})
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
        task_from_record("classify", record, "line 2")
    assert error.value.param == "line 2.labels"
