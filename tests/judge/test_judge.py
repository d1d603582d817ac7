"""Tasks, templates and the Judge against scripted fake Generators."""

from __future__ import annotations

import pytest

from headwater.errors import InvalidRequestError
from headwater.judge import AbsoluteTask, ClassificationTask, Judge, PairwiseTask
from headwater.models.generator import Generation

RUBRIC = {s: f"level {s}" for s in range(1, 6)}


class Scripted:
    """Answers each prompt with `answer(prompt_text, call_number)`; records batches and their temperatures."""

    name = "scripted"

    def __init__(self, answer):
        self.answer, self.batches, self.calls, self.temperatures = answer, [], 0, []

    def generate(self, prompts, params=None):
        self.batches.append(len(prompts))
        self.temperatures.append(params.temperature if params else None)
        results = []
        for prompt in prompts:
            self.calls += 1
            text = self.answer(prompt[-1]["content"], self.calls)
            finish = "length" if text is None else "stop"
            results.append(Generation(text or "", finish, 1, 1))
        return results


def _pair(i=0):
    return PairwiseTask(f"Question {i}", f"short answer {i}", f"a much longer answer number {i}")


def test_absolute_prompt_fences_and_puts_the_reference_last():
    task = AbsoluteTask("Say hi", "hello ```x```", "Friendliness", RUBRIC, reference="hi there")
    [message] = task.messages()
    content = message["content"]
    assert message["role"] == "user"
    assert "```\nSay hi\n```" in content and "ʼʼʼxʼʼʼ" in content
    assert content.rstrip().endswith("Reference answer:\nhi there")
    assert "**Result:**" in content and "Score 5: level 5" in content


def test_classification_prompt_carries_label_descriptions():
    described = ClassificationTask("q", "r", "polite?", label_descriptions={"Yes": "says please", "No": "rude"})
    assert described.messages()[0]["content"].endswith("Criteria: polite?\nYes: says please\nNo: rude")
    assert ClassificationTask("q", "r", "polite?").messages()[0]["content"].endswith("Criteria: polite?")


@pytest.mark.parametrize(
    ("build", "param"),
    [
        (lambda: AbsoluteTask("q", "r", "obj", {1: "a", 2: "b"}), "rubric.scores"),
        (lambda: AbsoluteTask("", "r", "obj", RUBRIC), "instruction"),
        (lambda: PairwiseTask("q", "same", "same "), "response_b"),
        (lambda: ClassificationTask("q", "r", "c", labels=("Yes",)), "labels"),
        (lambda: ClassificationTask("q", "r", "c", label_descriptions={"Yes": "fine"}), "labels"),
        (lambda: ClassificationTask("q", "r", "c", label_descriptions={"Yes": "fine", "No": " "}), "labels"),
    ],
)
def test_bad_tasks_are_refused(build, param):
    with pytest.raises(InvalidRequestError) as error:
        build()
    assert error.value.param == param


def test_batched_with_counted_retries():
    fake = Scripted(lambda text, call: "no verdict" if call <= 2 else "**Reasoning:** ok\n\n**Result:** 4")
    judge = Judge(fake, retries=2)
    results = judge.judge([AbsoluteTask(f"q{i}", "r", "obj", RUBRIC) for i in range(3)])
    assert [r.verdict for r in results] == [4, 4, 4]
    assert fake.batches == [3, 2]
    assert fake.temperatures == [0.0, 0.7], "retries must not repeat the greedy answer"
    assert judge.retry_count == 2 and [r.attempts for r in results] == [2, 2, 1]


def test_failures_are_named_not_guessed():
    fake = Scripted(lambda text, call: None)  # always truncated
    [result] = Judge(fake, retries=1).judge([AbsoluteTask("q", "r", "obj", RUBRIC)])
    assert (result.verdict, result.failure, result.attempts) == (None, "truncated", 2)


def slot_one(text, call):
    return "**Reasoning:** the first one\n\n**Result:** A"


def test_slot_one_bias_is_exposed_by_both_orders():
    results = Judge(Scripted(slot_one), order="both").judge([_pair(i) for i in range(4)])
    assert all(r.verdict is None and r.failure == "inconsistent" for r in results)


def test_random_order_is_seeded_and_undone():
    tasks = [_pair(i) for i in range(20)]
    first = Judge(Scripted(slot_one), order="random", seed=3).judge(tasks)
    again = Judge(Scripted(slot_one), order="random", seed=3).judge(tasks)
    assert [r.verdict for r in first] == [r.verdict for r in again]
    assert all(r.verdict == ("B" if r.swapped else "A") for r in first)
    assert {r.swapped for r in first} == {True, False}


def test_a_fair_judge_is_consistent_under_both_orders():
    def prefers_long(text, call):
        a = text.split("Response A:")[1].split("Response B:")[0]
        b = text.split("Response B:")[1].split("Criteria:")[0]
        return f"**Result:** {'A' if len(a) > len(b) else 'B'}"

    results = Judge(Scripted(prefers_long), order="both").judge([_pair(i) for i in range(3)])
    assert [r.verdict for r in results] == ["B", "B", "B"]


def test_self_consistency_votes_and_ties():
    votes = iter([4, 4, 2, 5, 1, 5, 3, 2])
    judge = Judge(Scripted(lambda text, call: f"Result: {next(votes)}"), samples=4)
    majority, tie = judge.judge([AbsoluteTask("q1", "r", "o", RUBRIC), AbsoluteTask("q2", "r", "o", RUBRIC)])
    assert (majority.verdict, majority.agreement) == (4, 0.5)
    assert tie.verdict == 2  # four different scores: the lower median of 1, 2, 3, 5


def test_label_vote_ties_are_failures():
    labels = iter(["Yes", "No"])
    judge = Judge(Scripted(lambda text, call: f"Result: {next(labels)}"), samples=2)
    [result] = judge.judge([ClassificationTask("q", "r", "is it polite?")])
    assert (result.verdict, result.failure) == (None, "no_majority")
