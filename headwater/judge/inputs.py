"""Judge tasks from JSONL lines (the CLI's input format), each error naming the line and the field."""

from __future__ import annotations

from pathlib import Path
from typing import Literal, overload

from headwater.errors import InvalidRequestError
from headwater.jsonl import read_jsonl
from headwater.judge.tasks import (
    DEFAULT_PAIRWISE_CRITERIA,
    TASK_KINDS,
    AbsoluteTask,
    ClassificationTask,
    PairwiseTask,
    Task,
)

GENERIC_SCORES = {
    1: "The response does not meet the objective at all.",
    2: "The response meets a small part of the objective.",
    3: "The response meets about half of the objective.",
    4: "The response meets most of the objective, with minor gaps.",
    5: "The response fully meets the objective.",
}
"""Score descriptions used when a rubric is only an objective string."""


@overload
def _text(record: dict, name: str, where: str, required: Literal[True] = True) -> str: ...
@overload
def _text(record: dict, name: str, where: str, required: bool) -> str | None: ...
def _text(record: dict, name: str, where: str, required: bool = True) -> str | None:
    """The string field `name`; a missing optional one is None, anything else but a non-empty string is an error."""
    value = record.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise InvalidRequestError(f"{where}: field {name!r} must be a non-empty string", param=f"{where}.{name}")
    return value


def _rubric(record: dict, where: str) -> tuple[str, dict[int, str]]:
    rubric = record.get("rubric")
    if isinstance(rubric, str) and rubric.strip():
        return rubric, GENERIC_SCORES
    if isinstance(rubric, dict) and isinstance(rubric.get("criteria"), str) and isinstance(rubric.get("scores"), dict):
        try:
            scores = {int(k): str(v) for k, v in rubric["scores"].items()}
        except ValueError:
            raise InvalidRequestError(f"{where}: rubric.scores keys must be 1..5", param=f"{where}.rubric") from None
        return rubric["criteria"], scores
    raise InvalidRequestError(
        f"{where}: rubric must be an objective string or {{criteria, scores}}", param=f"{where}.rubric"
    )


def _labels(record: dict, where: str) -> tuple[tuple[str, ...], dict[str, str] | None]:
    """`labels`: a list of labels, or an object from each label to its description (Selene's Yes/No rubric)."""
    labels = record.get("labels", ["Yes", "No"])
    if isinstance(labels, dict) and all(isinstance(text, str) for text in labels.values()):
        return tuple(labels), dict(labels)
    if isinstance(labels, list) and all(isinstance(label, str) for label in labels):
        return tuple(labels), None
    raise InvalidRequestError(
        f"{where}: labels must be a list of strings or an object from label to description "
        '(e.g. {"Yes": "…", "No": "…"})',
        param=f"{where}.labels",
    )


def task_from_record(kind: str, record: object, where: str = "item") -> Task:
    """An absolute, pairwise or classification task (`TASK_KINDS`) from one JSON object."""
    if kind not in TASK_KINDS:
        raise InvalidRequestError(f"kind must be one of {', '.join(TASK_KINDS)}, got {kind!r}", param="kind")
    if not isinstance(record, dict):
        raise InvalidRequestError(f"{where}: expected a JSON object", param=where)
    identifier = None if record.get("id") is None else str(record["id"])
    try:
        instruction = _text(record, "instruction", where)
        if kind == "absolute":
            extra = _text(record, "input", where, required=False)
            objective, scores = _rubric(record, where)
            return AbsoluteTask(
                f"{instruction}\n\n{extra}" if extra else instruction,
                _text(record, "response", where),
                objective,
                scores,
                _text(record, "reference", where, required=False),
                identifier,
            )
        if kind == "pairwise":
            criteria = _text(record, "criteria", where, required=False) or DEFAULT_PAIRWISE_CRITERIA
            response_a, response_b = _text(record, "response_a", where), _text(record, "response_b", where)
            return PairwiseTask(instruction, response_a, response_b, criteria, identifier)
        labels, descriptions = _labels(record, where)
        return ClassificationTask(
            instruction,
            _text(record, "response", where),
            _text(record, "criteria", where),
            labels,
            _text(record, "reference", where, required=False),
            identifier,
            descriptions,
        )
    except InvalidRequestError as error:
        if error.message.startswith(where):
            raise
        raise InvalidRequestError(f"{where}: {error.message}", param=f"{where}.{error.param}") from None


def read_tasks(kind: str, path: Path) -> list[Task]:
    """Every task of a JSONL file; the first bad line stops it with its line number and field."""
    return [task_from_record(kind, record, f"line {number}") for number, record in read_jsonl(path, "task")]


GOLD_FIELDS = {"absolute": "score", "pairwise": "winner", "classification": "label"}
"""The field holding each task kind's gold verdict in a labelled JSONL file."""


def read_gold(kind: str, path: Path) -> list[int | str]:
    """The gold verdict of every line of a labelled JSONL file (a score, a winner or a label); the first missing
    or malformed one stops it with its line number and field."""
    if kind not in GOLD_FIELDS:
        raise InvalidRequestError(f"kind must be one of {', '.join(GOLD_FIELDS)}, got {kind!r}", param="kind")
    field = GOLD_FIELDS[kind]
    golds: list[int | str] = []
    for number, record in read_jsonl(path, "labelled item"):
        gold = record.get(field) if isinstance(record, dict) else None
        if gold is None:
            raise InvalidRequestError(f"line {number}: field {field!r} (the gold verdict) is missing", param=field)
        if kind == "absolute" and (isinstance(gold, bool) or not isinstance(gold, int)):
            raise InvalidRequestError(
                f"line {number}: field {field!r} must be an integer score, got {gold!r}", param=field
            )
        golds.append(gold if kind == "absolute" else str(gold))
    return golds
