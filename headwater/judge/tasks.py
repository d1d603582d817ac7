"""Judging tasks and our own prompts for them, the `headwater` template.

The prompts follow the structure of Atla's Selene Mini prompts (Atla, "Selene Mini", arXiv 2501.17195) in our own
words; they are not the prompts Selene Mini was trained on (load Atla's files with `templates.atla_template`).
Every prompt is one user message (no system prompt): the task statement, numbered rules, the output format
(`**Reasoning:**` then `**Result:**`), the judged texts in triple-backtick fences, the rubric, and the reference
(unfenced, last). Templates carry a version id that reports record.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from headwater.errors import InvalidRequestError

TEMPLATE_VERSION = "headwater-v1"
"""Version id of the `headwater` template (named `selene-v1` before it was renamed: same text)."""
DEFAULT_PAIRWISE_CRITERIA = "Which response better follows the instruction?"
TASK_KINDS = ("absolute", "pairwise", "classification")
"""The one vocabulary of judge tasks (files, benchmarks, training); the CLI's verbs score/compare/classify map here."""
_FORMAT = (
    "Your reply must have exactly this format:\n**Reasoning:** <your feedback, step by step>\n\n**Result:** <{result}>"
)


def _fence(text: str) -> str:
    return "```\n" + text.replace("```", "ʼʼʼ") + "\n```"


def _require(name: str, value: str | None) -> str:
    if value is None or not str(value).strip():
        raise InvalidRequestError(f"{name} must be a non-empty string", param=name)
    return str(value)


def _rules(reference: str | None, extra: list[str]) -> str:
    rules = ["Judge strictly by the rubric; do not reward anything it does not ask for.", *extra]
    if reference is not None:
        rules.append("Use the reference answer as a guide to what a good response contains.")
    return "\n".join(f"{i}. {rule}" for i, rule in enumerate(rules, start=1))


def _reference(reference: str | None) -> str:
    return f"\n\nReference answer:\n{reference}" if reference is not None else ""


@dataclass(frozen=True)
class AbsoluteTask:
    """Score one response from 1 to 5 against a rubric with a description per score."""

    instruction: str
    response: str
    objective: str
    score_descriptions: dict[int, str]
    reference: str | None = None
    id: str | None = None

    def __post_init__(self) -> None:
        _require("instruction", self.instruction)
        _require("response", self.response)
        _require("rubric", self.objective)
        missing = [s for s in range(1, 6) if not str(self.score_descriptions.get(s, "")).strip()]
        if missing:
            raise InvalidRequestError(
                f"the rubric needs a description for every score 1-5; missing {missing}", param="rubric.scores"
            )

    def messages(self) -> list[dict[str, str]]:
        scores = "\n".join(f"Score {s}: {self.score_descriptions[s]}" for s in range(1, 6))
        body = (
            f"You are an expert evaluator. Score the response to the instruction from 1 to 5 using the rubric.\n\n"
            f"{_rules(self.reference, ['Give an integer score from 1 to 5.'])}\n\n"
            f"{_FORMAT.format(result='an integer from 1 to 5')}\n\n"
            f"Instruction:\n{_fence(self.instruction)}\n\nResponse:\n{_fence(self.response)}\n\n"
            f"Rubric: [{self.objective}]\n{scores}{_reference(self.reference)}"
        )
        return [{"role": "user", "content": body}]


@dataclass(frozen=True)
class ClassificationTask:
    """Answer whether a response meets a criterion, with one of `labels` (default Yes/No).

    `label_descriptions` says what each label means (Selene's classification rubric has a Yes and a No
    description); optional for the `headwater` template, required by Atla's.
    """

    instruction: str
    response: str
    criteria: str
    labels: tuple[str, ...] = ("Yes", "No")
    reference: str | None = None
    id: str | None = None
    label_descriptions: dict[str, str] | None = None

    def __post_init__(self) -> None:
        _require("instruction", self.instruction)
        _require("response", self.response)
        _require("criteria", self.criteria)
        if len(set(self.labels)) < 2 or any(not label.strip() for label in self.labels):
            raise InvalidRequestError("labels need at least two distinct, non-empty values", param="labels")
        if self.label_descriptions is not None:
            described = self.label_descriptions
            if set(described) != set(self.labels) or any(not str(text).strip() for text in described.values()):
                raise InvalidRequestError(
                    f"labels needs a non-empty description for each of {list(self.labels)}, got {list(described)}",
                    param="labels",
                )

    def messages(self) -> list[dict[str, str]]:
        options = " or ".join(self.labels)
        described = self.label_descriptions or {}
        descriptions = "".join(f"\n{label}: {described[label]}" for label in self.labels if label in described)
        body = (
            f"You are an expert evaluator. Decide whether the response meets the criteria.\n\n"
            f"{_rules(self.reference, [f'Answer with exactly one of: {options}.'])}\n\n"
            f"{_FORMAT.format(result=options)}\n\n"
            f"Instruction:\n{_fence(self.instruction)}\n\nResponse:\n{_fence(self.response)}\n\n"
            f"Criteria: {self.criteria}{descriptions}{_reference(self.reference)}"
        )
        return [{"role": "user", "content": body}]


@dataclass(frozen=True)
class PairwiseTask:
    """Pick the better of two responses, A or B (no tie option)."""

    instruction: str
    response_a: str
    response_b: str
    criteria: str = DEFAULT_PAIRWISE_CRITERIA
    id: str | None = None
    labels: tuple[str, ...] = field(default=("A", "B"), init=False)

    def __post_init__(self) -> None:
        _require("instruction", self.instruction)
        _require("response_a", self.response_a)
        _require("response_b", self.response_b)
        if self.response_a.strip() == self.response_b.strip():
            raise InvalidRequestError("response_a and response_b are identical: nothing to compare", param="response_b")

    def swapped(self) -> PairwiseTask:
        return PairwiseTask(self.instruction, self.response_b, self.response_a, self.criteria, self.id)

    def messages(self) -> list[dict[str, str]]:
        rules = [
            "Apply the criteria first, then helpfulness, accuracy, level of detail and harmlessness.",
            "Penalise a response that does more or less than the instruction asks.",
            "Ignore the order of the responses and their length.",
            "Answer A or B; there is no tie.",
        ]
        body = (
            f"You are an expert evaluator. Compare two responses to the instruction.\n\n{_rules(None, rules)}\n\n"
            f"{_FORMAT.format(result='A or B')}\n\n"
            f"Instruction:\n{_fence(self.instruction)}\n\nResponse A:\n{_fence(self.response_a)}\n\n"
            f"Response B:\n{_fence(self.response_b)}\n\nCriteria: {self.criteria}"
        )
        return [{"role": "user", "content": body}]


Task = AbsoluteTask | ClassificationTask | PairwiseTask
