"""Prometheus-style and user Jinja templates."""

from __future__ import annotations

import pytest

from headwater.errors import InvalidRequestError
from headwater.judge import AbsoluteTask, Judge, PairwiseTask
from headwater.judge.templates import PROMETHEUS, jinja_template, template_named
from tests.judge.test_judge import RUBRIC, Scripted


def test_prometheus_renders_and_parses_result_markers():
    task = AbsoluteTask("Say hi", "hello", "Friendliness", RUBRIC, reference="hi!")
    [message] = PROMETHEUS.render(task)
    assert "###Reference Answer (Score 5):\nhi!" in message["content"] and message["content"].endswith("###Feedback:")
    judge = Judge(Scripted(lambda text, call: "Feedback: warm enough. [RESULT] 4"), template=PROMETHEUS)
    [result] = judge.judge([task])
    assert result.verdict == 4
    with pytest.raises(InvalidRequestError, match="absolute"):
        PROMETHEUS.render(PairwiseTask("q", "a", "b"))


def test_user_jinja_template(tmp_path):
    path = tmp_path / "mine.jinja"
    path.write_text("Rate {{ response }} for {{ instruction }} on {{ objective }}.\n**Result:** 1-5")
    template = template_named(str(path))
    assert template.version == "jinja:mine.jinja"
    [message] = template.render(AbsoluteTask("q", "r", "clarity", RUBRIC))
    assert message["content"].startswith("Rate r for q on clarity.")
    with pytest.raises(InvalidRequestError, match="response_b"):
        template.render(PairwiseTask("q", "a", "b"))


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("{{ response }} only", "instruction"),
        ("{{ instruction ", "syntax"),
        ("{{ instruction }} {{ response }} {{ missing }}", "lacks"),
    ],
)
def test_bad_templates(source, message):
    with pytest.raises(InvalidRequestError, match=message):
        jinja_template(source).render(AbsoluteTask("q", "r", "o", RUBRIC))


def test_unknown_template_name():
    with pytest.raises(InvalidRequestError, match="neither selene"):
        template_named("nope")
