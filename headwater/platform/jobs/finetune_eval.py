"""What the evaluate stage of a fine-tuning job judges, and how: the examples (the validation file, or a held-out
slice of the training file that training then skips), and the judge's scores of the base and the fine-tuned model's
answers to them, before vs after.

Each model answers every example's prompt greedily; the judge (`headwater.judge.Judge`, our `headwater` template)
scores each answer 1-5 against the example's own answer as the reference (Selene Mini's absolute task with a
reference, Atla 2025). A verdict that does not parse counts as unparsed, never as a score.
"""

from __future__ import annotations

import json
import random
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

from headwater.jsonl import jsonl_lines
from headwater.judge.judge import Judge, Judgement
from headwater.judge.tasks import AbsoluteTask
from headwater.models.generator import ChatMessages, GenerationParams, Generator

T = TypeVar("T")
HOLDOUT_SHARE = 0.1
"""Share of the training file held out for the evaluate stage when the job has no validation_file."""
NO_ANSWER = "(no answer)"
OBJECTIVE = "How well does the response answer the instruction, as correct and complete as the reference answer?"
SCORES = {
    1: "Wrong, off-topic or empty: nothing of the reference answer's content.",
    2: "Mostly wrong: a small part of the reference answer's content, with errors.",
    3: "Partly right: about half of the reference answer's content, or right with notable errors or omissions.",
    4: "Mostly right: the reference answer's content with minor errors or omissions.",
    5: "Right and complete: everything the reference answer says, without errors.",
}
ANSWER_PARAMS = GenerationParams(max_tokens=128, temperature=0.0)
"""How the models answer: greedily, at most 128 tokens (fewer when the context window leaves less)."""


def held_out(count: int, limit: int, seed: int) -> list[int]:
    """The examples (0-based, in file order, blank lines not counted) kept out of training: a tenth of `count`, at
    least 1 and at most `limit`, drawn with `seed`; none when that would leave nothing to train on."""
    if count < 2:
        return []
    size = min(limit, max(1, round(count * HOLDOUT_SHARE)))
    return sorted(random.Random(seed).sample(range(count), size))


def kept(items: list[T], payload: dict) -> list[T]:
    """`items` (one per example of the training file) without the held-out ones: what a train task trains on."""
    drop = set(payload.get("held_out") or ())
    return [item for index, item in enumerate(items) if index not in drop]


def records(data: bytes) -> list[dict]:
    """A (checked) JSONL file's examples, blank lines skipped."""
    return [json.loads(raw) for raw in jsonl_lines(data.decode("utf-8")) if raw.strip()]


@dataclass(frozen=True)
class EvalItem:
    """A prompt the models answer and the answer the example gives (the judge's reference)."""

    prompt: ChatMessages
    reference: str


def eval_item(record: dict, method: str) -> EvalItem:
    """One example of a `method` job's file as what the model is asked and what it should answer."""
    from headwater.platform.jobs.finetune_tasks import supervised_row
    from headwater.train.cft import cft_row

    if method == "dpo":
        prompt = [{"role": m["role"], "content": m["content"]} for m in record["input"]["messages"]]
        return EvalItem(prompt, str(record["preferred_output"][-1]["content"]))
    row = cft_row(record["question"], record["response"], record["critique"]) if method == "cft" else None
    row = row or supervised_row(record)
    return EvalItem(row["prompt"], str(row["completion"][-1]["content"]))


def instruction(prompt: ChatMessages) -> str:
    """The prompt as the judge reads it: a lone user turn as it is, a conversation as `role: content` lines."""
    if len(prompt) == 1:
        return prompt[0]["content"]
    return "\n".join(f"{message['role']}: {message['content']}" for message in prompt)


@dataclass(frozen=True)
class Scored:
    """One answer and its judgement."""

    answer: str
    judgement: Judgement


def evaluate(judge: Judge, models: Mapping[str, Generator], items: Sequence[EvalItem]) -> dict[str, list[Scored]]:
    """Every model in `models` answers every item; the judge scores all answers in one batch."""
    prompts: list[ChatMessages | str] = [item.prompt for item in items]
    answers = {
        name: [g.text.strip() or NO_ANSWER for g in model.generate(prompts, ANSWER_PARAMS)]
        for name, model in models.items()
    }
    tasks = [
        AbsoluteTask(instruction(item.prompt), answer, OBJECTIVE, SCORES, reference=item.reference or None)
        for texts in answers.values()
        for item, answer in zip(items, texts, strict=True)
    ]
    judgements = iter(judge.judge(tasks))
    return {name: [Scored(answer, next(judgements)) for answer in texts] for name, texts in answers.items()}


@dataclass(frozen=True)
class ModelScore:
    """A model's mean score over the answers whose verdict parsed (None when none did), and how many did."""

    model: str
    mean_score: float | None
    scored: int
    unparsed: int

    def describe(self) -> str:
        shown = f"{self.mean_score:.2f}" if self.mean_score is not None else "n/a"
        return f"{shown} ({self.scored} of {self.scored + self.unparsed} parsed)"


def summary(model: str, scored: Sequence[Scored]) -> ModelScore:
    """`model`'s `ModelScore` over its scored answers."""
    scores = [s.judgement.verdict for s in scored if isinstance(s.judgement.verdict, int)]
    mean = round(statistics.fmean(scores), 4) if scores else None
    return ModelScore(model, mean, len(scores), len(scored) - len(scores))


def delta(before: ModelScore, after: ModelScore) -> float | None:
    """After minus before, when both have a mean score."""
    if before.mean_score is None or after.mean_score is None:
        return None
    return round(after.mean_score - before.mean_score, 4)


def report(items: Sequence[EvalItem], results: Mapping[str, Sequence[Scored]]) -> list[dict[str, object]]:
    """Per example: the prompt, the reference, and each model's answer, score and the judge's reasoning."""
    return [
        {
            "prompt": item.prompt,
            "reference": item.reference,
            **{
                name: {
                    "answer": scored[index].answer,
                    "score": scored[index].judgement.verdict,
                    "reasoning": scored[index].judgement.reasoning,
                    "parse_error": scored[index].judgement.failure,
                }
                for name, scored in results.items()
            },
        }
        for index, item in enumerate(items)
    ]
