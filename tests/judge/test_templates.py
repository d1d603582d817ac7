"""Prometheus-style, user Jinja and Atla's Selene YAML templates, and the template names."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from headwater.errors import InvalidRequestError
from headwater.judge import AbsoluteTask, ClassificationTask, Judge, PairwiseTask
from headwater.judge.templates import HEADWATER, PROMETHEUS, atla_template, jinja_template, template_named
from tests.judge.test_judge import RUBRIC, Scripted

ATLA = Path(__file__).parent / "atla_templates"
"""Our own text in Atla's prompt-templates format (same file names, key and placeholders)."""


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
    with pytest.raises(InvalidRequestError, match="neither headwater"):
        template_named("nope")


def test_selene_is_refused_with_the_new_name_and_headwater_is_ours():
    with pytest.raises(InvalidRequestError, match="now called 'headwater'.*prompt-templates"):
        template_named("selene")
    assert template_named("headwater") is HEADWATER and HEADWATER.version == "headwater-v1"


def _content(template, task):
    [message] = template.render(task)
    assert message["role"] == "user"
    return message["content"]


def test_atla_absolute_file_renders_the_prompt_as_written():
    task = AbsoluteTask("Name a prime.", "Seven {7}.", "Correctness", {s: f"level {s}" for s in range(1, 6)})
    expected = (
        "Grade the response to the instruction against the rubric below, then give a score from 1 to 5.\n\n"
        "Rules:\n(1) Follow the rubric only.\n\n"
        "Reply in this format:\n**Reasoning:** <feedback>\n\n**Result:** <an integer between 1 and 5>\n\n"
        "Here is the data:\n\n"
        "Instruction:\n```\nName a prime.\n```\n\n"
        "Response:\n```\nSeven {7}.\n```\n\n"
        "Score Rubrics:\n[Correctness]\n"
        "Score 1: level 1\nScore 2: level 2\nScore 3: level 3\nScore 4: level 4\nScore 5: level 5"
    )
    assert _content(atla_template(ATLA / "absolute-scoring.yaml"), task) == expected


def test_atla_absolute_with_reference_puts_the_reference_last():
    task = AbsoluteTask("Name a prime.", "9", "Correctness", RUBRIC, reference="7")
    content = _content(atla_template(ATLA / "absolute-scoring-with-reference.yaml"), task)
    assert content.endswith("Score 5: level 5\n\nReference answer:\n7")


def test_atla_pairwise_file_renders_the_prompt_as_written():
    task = PairwiseTask("Say hi.", "Hello!", "Go away.", "Which response is friendlier?")
    expected = (
        "Pick the better of two responses to the instruction: Response A or Response B.\n"
        "Do not answer both or neither.\n\n"
        "Rules:\n(1) Follow the rubric first, then helpfulness and accuracy.\n"
        "(2) Ignore the order and the length of the responses.\n\n"
        "Reply in this format:\n**Reasoning:** <feedback on both responses>\n\n**Result:** <A or B>\n\n"
        "Here is the data.\n\n"
        "Instruction:\n```\nSay hi.\n```\n\n"
        "Response A:\n```\nHello!\n```\n\n"
        "Response B:\n```\nGo away.\n```\n\n"
        "Score Rubrics:\n[Which response is friendlier?]"
    )
    assert _content(atla_template(ATLA / "pairwise.yaml"), task) == expected


def test_atla_classification_file_renders_the_per_label_descriptions():
    descriptions = {"Yes": "It answers the question.", "No": "It does not."}
    task = ClassificationTask("Capital of France?", "Paris.", "Does it answer?", label_descriptions=descriptions)
    expected = (
        "Decide whether the response meets the binary rubric below, then answer Yes or No.\n\n"
        "Rules:\n(1) Follow the rubric only.\n\n"
        "Reply in this format:\n**Reasoning:** <feedback>\n\n**Result:** <Yes or No>\n\n"
        "Here is the data:\n\n"
        "Instruction:\n```\nCapital of France?\n```\n\n"
        "Response:\n```\nParis.\n```\n\n"
        "Score Rubrics:\n[Does it answer?]\nYes: It answers the question.\nNo: It does not."
    )
    assert _content(atla_template(ATLA / "classification.yaml"), task) == expected


def test_atla_folder_picks_each_tasks_file_and_the_judge_uses_it():
    template = template_named(str(ATLA))
    assert template.version.startswith("atla:atla_templates@")
    graded = _content(template, AbsoluteTask("q", "r", "o", RUBRIC, reference="ref"))
    assert graded.startswith("Grade the response to the instruction against the rubric and the reference")
    compared = _content(template, PairwiseTask("q", "a", "b"))
    assert compared.startswith("Pick the better of two responses")
    prompts = []
    judge = Judge(
        Scripted(lambda text, call: prompts.append(text) or "**Result:** b"), template=template, order="fixed"
    )
    [result] = judge.judge([PairwiseTask("q", "a", "b")])
    assert result.verdict == "B" and prompts == [compared]


def test_atla_file_and_folder_versions_follow_the_text(tmp_path):
    shutil.copy(ATLA / "pairwise.yaml", tmp_path / "pairwise.yaml")
    before = template_named(str(tmp_path / "pairwise.yaml")).version
    path = tmp_path / "pairwise.yaml"
    path.write_text(path.read_text().replace("Pick the better", "Choose the better"))
    assert before.startswith("atla:pairwise.yaml@") and template_named(str(path)).version != before


@pytest.mark.parametrize(
    ("file", "task", "message"),
    [
        ("absolute-scoring.yaml", AbsoluteTask("q", "r", "o", RUBRIC, reference="x"), "absolute-scoring-with-ref"),
        ("absolute-scoring-with-reference.yaml", AbsoluteTask("q", "r", "o", RUBRIC), "needs Atla's absolute-scoring"),
        ("absolute-scoring.yaml", PairwiseTask("q", "a", "b"), "needs Atla's pairwise.yaml"),
        ("classification.yaml", ClassificationTask("q", "r", "c"), "labels Yes and No, each with a description"),
        (
            "classification.yaml",
            ClassificationTask("q", "r", "c", ("safe", "toxic"), label_descriptions={"safe": "s", "toxic": "t"}),
            "labels Yes and No",
        ),
    ],
)
def test_atla_template_refuses_tasks_it_does_not_fit(file, task, message):
    with pytest.raises(InvalidRequestError, match=message):
        atla_template(ATLA / file).render(task)


def test_atla_folder_without_the_needed_file(tmp_path):
    shutil.copy(ATLA / "pairwise.yaml", tmp_path / "pairwise.yaml")
    template = atla_template(tmp_path)
    with pytest.raises(InvalidRequestError, match="no absolute-scoring.yaml"):
        template.render(AbsoluteTask("q", "r", "o", RUBRIC))
    (tmp_path / "empty").mkdir()
    with pytest.raises(InvalidRequestError, match="none of Atla's files"):
        atla_template(tmp_path / "empty")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("user_template: [unclosed", "not valid YAML"),
        ("prompt: |-\n  {user_input} {assistant_response}", "one key `user_template`"),
        ("user_template: x\nsystem_template: y", "one key `user_template`"),
        ("user_template: |-\n  {user_input} {assistant_response_a} {assistant_response_b} {extra}", "unknown"),
        ("user_template: |-\n  {user_input} {assistant_response_a}", "missing ['assistant_response_b']"),
        ("user_template: |-\n  {user_input} {assistant_response}", "cannot tell the task"),
        ("user_template: |-\n  {user_input} {assistant_response} {rubric_yes_description", "literal brace"),
    ],
)
def test_bad_atla_files(tmp_path, text, message):
    path = tmp_path / "mine.yaml"
    path.write_text(text)
    with pytest.raises(InvalidRequestError, match=re.escape(message)):
        template_named(str(path))
