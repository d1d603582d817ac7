"""Prompt templates besides the Selene default: Prometheus-style absolute grading (verdict after `[RESULT]`) and
user Jinja templates. A template turns a task into chat messages and carries a version id for reports."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import jinja2
import jinja2.meta

from headwater.errors import InvalidRequestError
from headwater.judge.tasks import TEMPLATE_VERSION, AbsoluteTask, PairwiseTask, Task

Messages = list[dict[str, str]]


@dataclass(frozen=True)
class Template:
    """A named, versioned way to render tasks as messages."""

    version: str
    render: Callable[[Task], Messages]


def _selene(task: Task) -> Messages:
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


SELENE = Template(TEMPLATE_VERSION, _selene)
PROMETHEUS = Template("prometheus-v1", _prometheus)


def template_named(name: str) -> Template:
    """`selene`, `prometheus`, or the path of a Jinja file."""
    if name == "selene":
        return SELENE
    if name == "prometheus":
        return PROMETHEUS
    path = Path(name)
    if not path.is_file():
        raise InvalidRequestError(f"template {name!r} is neither selene, prometheus nor a Jinja file", param="template")
    return jinja_template(path.read_text(encoding="utf-8"), version=f"jinja:{path.name}")
