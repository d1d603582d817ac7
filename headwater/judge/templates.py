"""Prompt templates: ours (`headwater`, the default), Atla's published Selene Mini YAML files, Prometheus-style
absolute grading (verdict after `[RESULT]`) and user Jinja templates. A template turns a task into chat messages
and carries a version id for reports."""

from __future__ import annotations

import dataclasses
import hashlib
import string
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import jinja2
import jinja2.meta
import yaml

from headwater.errors import InvalidRequestError
from headwater.judge.tasks import TEMPLATE_VERSION, AbsoluteTask, ClassificationTask, PairwiseTask, Task

Messages = list[dict[str, str]]


@dataclass(frozen=True)
class Template:
    """A named, versioned way to render tasks as messages."""

    version: str
    render: Callable[[Task], Messages]


def _headwater(task: Task) -> Messages:
    return task.messages()


def _prometheus(task: Task) -> Messages:
    if not isinstance(task, AbsoluteTask):
        raise InvalidRequestError("the prometheus template grades absolute (score) tasks only", param="template")
    scores = "\n".join(f"Score {s}: {task.score_descriptions[s]}" for s in range(1, 6))
    reference = f"###Reference Answer (Score 5):\n{task.reference}\n\n" if task.reference else ""
    body = (
        "###Task Description:\nAn instruction, a response to evaluate and a score rubric are given. Write "
        "feedback that assesses the response strictly by the rubric, then a score from 1 to 5. Output format: "
        '"Feedback: (your feedback) [RESULT] (an integer from 1 to 5)". Write nothing else.\n\n'
        f"###The instruction to evaluate:\n{task.instruction}\n\n###Response to evaluate:\n{task.response}\n\n"
        f"{reference}###Score Rubrics:\n[{task.objective}]\n{scores}\n\n###Feedback:"
    )
    return [{"role": "user", "content": body}]


def jinja_template(source: str, version: str = "user-jinja") -> Template:
    """A user template: Jinja over the task's fields (instruction, response or response_a/response_b, objective,
    score_descriptions, criteria, labels, reference). It must use the instruction and the judged text(s)."""
    environment = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False)
    try:
        parsed = environment.parse(source)
    except jinja2.TemplateSyntaxError as error:
        raise InvalidRequestError(f"template syntax error: {error}", param="template") from error
    names = jinja2.meta.find_undeclared_variables(parsed)
    if "instruction" not in names or not names & {"response", "response_a"}:
        raise InvalidRequestError(
            "a judge template must use {{ instruction }} and {{ response }} (or response_a and response_b)",
            param="template",
        )
    compiled = environment.from_string(source)

    def render(task: Task) -> Messages:
        fields = {f.name: getattr(task, f.name) for f in dataclasses.fields(task)}
        if isinstance(task, PairwiseTask) and "response_b" not in names:
            raise InvalidRequestError("this template has no {{ response_b }} for pairwise tasks", param="template")
        try:
            return [{"role": "user", "content": compiled.render(**fields)}]
        except jinja2.UndefinedError as error:
            raise InvalidRequestError(
                f"the template uses a field this task lacks: {error}", param="template"
            ) from error

    return Template(version, render)


HEADWATER = Template(TEMPLATE_VERSION, _headwater)
PROMETHEUS = Template("prometheus-v1", _prometheus)

# Atla's prompt-templates (github.com/atla-ai/selene-mini): YAML with one key, `user_template`, a str.format text.
_SCORES = {f"rubric_score_{s}_description" for s in range(1, 6)}
_PLACEHOLDERS = {
    "absolute": ({"user_input", "assistant_response", *_SCORES}, {"rubric_objective", "reference_response"}),
    "classification": (
        {"user_input", "assistant_response", "rubric_yes_description", "rubric_no_description"},
        {"rubric_objective", "reference_response"},
    ),
    "pairwise": ({"user_input", "assistant_response_a", "assistant_response_b"}, {"rubric_objective"}),
}
"""Per task kind: the placeholders an Atla template must use, and those it may use."""
ATLA_FILES = {
    ("absolute", False): "absolute-scoring.yaml",
    ("absolute", True): "absolute-scoring-with-reference.yaml",
    ("classification", False): "classification.yaml",
    ("classification", True): "classification-with-reference.yaml",
    ("pairwise", False): "pairwise.yaml",
}
"""The published file for each (task kind, has a reference), as named in Atla's prompt-templates folder."""


def _kind_of(task: Task) -> str:
    if isinstance(task, AbsoluteTask):
        return "absolute"
    return "classification" if isinstance(task, ClassificationTask) else "pairwise"


def _atla_kind(names: set[str], where: str) -> str:
    """The task kind an Atla template is for, from its placeholders; every placeholder must belong to it."""
    if names & {"assistant_response_a", "assistant_response_b"}:
        kind = "pairwise"
    elif names & {"rubric_yes_description", "rubric_no_description"}:
        kind = "classification"
    elif names & _SCORES:
        kind = "absolute"
    else:
        raise InvalidRequestError(
            f"{where}: cannot tell the task: the template uses none of {{assistant_response_a}}, "
            "{rubric_yes_description}, {rubric_score_1_description}",
            param="template",
        )
    required, optional = _PLACEHOLDERS[kind]
    if names - required - optional or required - names:
        raise InvalidRequestError(
            f"{where}: a {kind} template must use {sorted(required)} and may use {sorted(optional)}; "
            f"unknown {sorted(names - required - optional)}, missing {sorted(required - names)}",
            param="template",
        )
    return kind


def _atla_fields(task: Task) -> dict[str, str]:
    """The values of Atla's placeholders for `task`, filled as Atla's cookbooks do (the raw texts, unescaped)."""
    if isinstance(task, PairwiseTask):
        return {
            "user_input": task.instruction,
            "assistant_response_a": task.response_a,
            "assistant_response_b": task.response_b,
            "rubric_objective": task.criteria,
        }
    fields = {"user_input": task.instruction, "assistant_response": task.response}
    if task.reference is not None:
        fields["reference_response"] = task.reference
    if isinstance(task, AbsoluteTask):
        scores = {f"rubric_score_{s}_description": task.score_descriptions[s] for s in range(1, 6)}
        return {**fields, "rubric_objective": task.objective, **scores}
    if task.labels != ("Yes", "No") or task.label_descriptions is None:
        raise InvalidRequestError(
            "Atla's classification template needs labels Yes and No, each with a description: give "
            '"labels": {"Yes": "<when Yes>", "No": "<when No>"} (or --yes-description/--no-description)',
            param="labels",
        )
    yes, no = task.label_descriptions["Yes"], task.label_descriptions["No"]
    return {**fields, "rubric_objective": task.criteria, "rubric_yes_description": yes, "rubric_no_description": no}


@dataclass(frozen=True)
class _AtlaFile:
    name: str
    text: str
    kind: str
    with_reference: bool


def _read_atla(path: Path) -> _AtlaFile:
    """Read one of Atla's prompt-template YAML files and check its placeholders."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise InvalidRequestError(f"{path.name}: not valid YAML: {error}", param="template") from error
    if not isinstance(data, dict) or not isinstance(data.get("user_template"), str) or set(data) != {"user_template"}:
        raise InvalidRequestError(
            f"{path.name}: expected Atla's format, one key `user_template` holding the prompt text",
            param="template",
        )
    text = data["user_template"]
    try:
        parts = list(string.Formatter().parse(text))
    except ValueError as error:
        raise InvalidRequestError(
            f"{path.name}: {error} (a literal brace is written {{{{ or }}}})", param="template"
        ) from error
    names = {name for _literal, name, _spec, _conversion in parts if name is not None}
    kind = _atla_kind(names, path.name)
    return _AtlaFile(path.name, text, kind, "reference_response" in names)


def _render_atla(file: _AtlaFile, task: Task) -> Messages:
    kind, with_reference = _kind_of(task), getattr(task, "reference", None) is not None
    if kind != file.kind or with_reference != file.with_reference:
        wanted = ATLA_FILES[(kind, with_reference)]
        raise InvalidRequestError(
            f"template {file.name} is for {file.kind} tasks {'with' if file.with_reference else 'without'} a "
            f"reference; this {kind} task needs Atla's {wanted}",
            param="template",
        )
    return [{"role": "user", "content": file.text.format(**_atla_fields(task))}]


def _digest(files: list[_AtlaFile]) -> str:
    return hashlib.sha256("\0".join(f.text for f in files).encode()).hexdigest()[:8]


def atla_template(path: Path) -> Template:
    """Atla's Selene Mini prompts, used as published: one of its prompt-templates YAML files, or the folder of them.

    Selene Mini was trained on these prompts (Atla, arXiv 2501.17195; github.com/atla-ai/selene-mini,
    prompt-templates/), so a Selene model should be given them rather than our `headwater` paraphrase. Each file
    serves one task kind, with or without a reference (`reference_response`); a folder picks the file by Atla's
    names (`ATLA_FILES`) for each task. The version id records the file or folder name and a hash of the text.
    """
    if path.is_dir():
        files = {name: _read_atla(path / name) for name in ATLA_FILES.values() if (path / name).is_file()}
        if not files:
            raise InvalidRequestError(
                f"template folder {path} holds none of Atla's files {sorted(ATLA_FILES.values())}", param="template"
            )

        def render(task: Task) -> Messages:
            name = ATLA_FILES[(_kind_of(task), getattr(task, "reference", None) is not None)]
            if name not in files:
                raise InvalidRequestError(f"template folder {path} has no {name} for this task", param="template")
            return _render_atla(files[name], task)

        return Template(f"atla:{path.name}@{_digest(list(files.values()))}", render)
    file = _read_atla(path)
    return Template(f"atla:{path.name}@{_digest([file])}", lambda task: _render_atla(file, task))


def template_named(name: str) -> Template:
    """`headwater`, `prometheus`, one of Atla's YAML files or their folder, or the path of a Jinja file."""
    if name == "headwater":
        return HEADWATER
    if name == "prometheus":
        return PROMETHEUS
    if name == "selene":
        raise InvalidRequestError(
            "template 'selene' is now called 'headwater' (it is our paraphrase, not the prompt Selene Mini was "
            "trained on); for a Selene model pass Atla's own files: --template <selene-mini>/prompt-templates "
            "(the folder) or one of its .yaml files",
            param="template",
        )
    path = Path(name)
    if path.is_dir() or (path.is_file() and path.suffix in (".yaml", ".yml")):
        return atla_template(path)
    if not path.is_file():
        raise InvalidRequestError(
            f"template {name!r} is neither headwater, prometheus, an Atla YAML file or folder, nor a Jinja file",
            param="template",
        )
    return jinja_template(path.read_text(encoding="utf-8"), version=f"jinja:{path.name}")
