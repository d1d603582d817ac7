"""`Judge`: any Generator as an evaluator, batched, with retries, position-swap debiasing and self-consistency.

Pairwise order: `fixed`; `random` (a seeded per-item swap, undone after parsing, as RewardBench); `both` (judge
both orders: the same winner wins, different winners are a failure `inconsistent`, as FastChat's tie).
Self-consistency (`samples` > 1, at `sample_temperature`): majority of the parsed verdicts; failures do not vote;
a tied vote is the lower median for scores and a failure `no_majority` for labels.
"""

from __future__ import annotations

import random
import statistics
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Literal

from headwater.errors import InvalidRequestError
from headwater.judge.parse import Parsed, Scale, parse
from headwater.judge.tasks import AbsoluteTask, PairwiseTask, Task
from headwater.judge.templates import HEADWATER, Template
from headwater.models.generator import GenerationParams, Generator

Order = Literal["fixed", "random", "both"]
_SWAP = {"A": "B", "B": "A"}


@dataclass(frozen=True)
class Judgement:
    """One task's verdict (None on failure), the reasoning, the failure's name, and how it was reached."""

    verdict: int | str | None
    reasoning: str
    failure: str | None
    attempts: int
    agreement: float | None = None
    swapped: bool = False


@dataclass
class _Call:
    task_index: int
    task: Task
    swapped: bool = False
    parsed: Parsed | None = None
    attempts: int = 0


class Judge:
    """Judges tasks with `generator`; greedy by default (hitting max_tokens is the failure `truncated`)."""

    def __init__(
        self,
        generator: Generator,
        *,
        max_tokens: int = 512,
        retries: int = 1,
        order: Order = "random",
        seed: int = 0,
        samples: int = 1,
        sample_temperature: float = 0.7,
        template: Template = HEADWATER,
    ) -> None:
        if order not in ("fixed", "random", "both"):
            raise InvalidRequestError(f"order must be fixed, random or both, got {order!r}", param="order")
        if samples < 1 or retries < 0:
            raise InvalidRequestError("samples must be at least 1 and retries non-negative", param="samples")
        self.generator, self.max_tokens, self.retries = generator, max_tokens, retries
        self.order, self.seed, self.samples, self.sample_temperature = order, seed, samples, sample_temperature
        self.template = template
        self.retry_count = 0

    def _calls(self, index: int, task: Task) -> list[_Call]:
        if not isinstance(task, PairwiseTask) or self.order == "fixed":
            variants = [False]
        elif self.order == "both":
            variants = [False, True]
        else:
            variants = [random.Random(f"{self.seed}:{index}").random() < 0.5]
        return [
            _Call(index, task.swapped() if swap and isinstance(task, PairwiseTask) else task, swap)
            for swap in variants
            for _ in range(self.samples)
        ]

    def _params(self) -> GenerationParams:
        """Greedy; or, for self-consistency, sampling without a seed so that the k copies are independent draws."""
        if self.samples > 1:
            return GenerationParams(max_tokens=self.max_tokens, temperature=self.sample_temperature)
        return GenerationParams(max_tokens=self.max_tokens, temperature=0.0)

    def _run(self, calls: list[_Call]) -> None:
        pending = calls
        for attempt in range(self.retries + 1):
            if not pending:
                return
            if attempt:
                self.retry_count += len(pending)
            # a greedy retry would repeat the same unparseable answer: retries sample instead
            params = (
                self._params()
                if attempt == 0
                else GenerationParams(max_tokens=self.max_tokens, temperature=self.sample_temperature)
            )
            generations = self.generator.generate([self.template.render(call.task) for call in pending], params)
            for call, generation in zip(pending, generations, strict=True):
                call.attempts += 1
                call.parsed = parse_for(call.task, generation.text, generation.finish_reason == "length")
            pending = [call for call in pending if call.parsed is None or not call.parsed.ok]

    def judge(self, tasks: Sequence[Task]) -> list[Judgement]:
        """One Judgement per task, in order."""
        calls = [call for index, task in enumerate(tasks) for call in self._calls(index, task)]
        self._run(calls)
        grouped: dict[int, list[_Call]] = {}
        for call in calls:
            grouped.setdefault(call.task_index, []).append(call)
        return [self._combine(tasks[index], grouped[index]) for index in range(len(tasks))]

    def _combine(self, task: Task, calls: list[_Call]) -> Judgement:
        attempts = sum(call.attempts for call in calls)
        by_order: dict[bool, Judgement] = {}
        for swapped in sorted({call.swapped for call in calls}):
            same = [call for call in calls if call.swapped == swapped]
            by_order[swapped] = _vote(task, same, attempts)
            if swapped and by_order[swapped].verdict is not None:
                by_order[swapped] = replace(
                    by_order[swapped], verdict=_SWAP[str(by_order[swapped].verdict)], swapped=True
                )
        if len(by_order) == 1:
            return next(iter(by_order.values()))
        first, second = by_order[False], by_order[True]
        if first.failure or second.failure:
            return first if first.failure else second
        if first.verdict != second.verdict:
            return Judgement(None, first.reasoning, "inconsistent", attempts)
        return first


def judgement_record(task: Task, result: Judgement) -> dict[str, object]:
    """The JSON object of one judgement, as `headwater judge --json` prints it and `/v1/judgements` returns it."""
    return {"id": task.id, "verdict": result.verdict, "reasoning": result.reasoning, "parse_error": result.failure}


def parse_for(task: Task, text: str, truncated: bool) -> Parsed:
    """Parse `text` with the task's scale or labels."""
    if isinstance(task, AbsoluteTask):
        return parse(text, scale=Scale(1, 5), truncated=truncated)
    return parse(text, labels=task.labels, pairwise=isinstance(task, PairwiseTask), truncated=truncated)


def _vote(task: Task, calls: list[_Call], attempts: int) -> Judgement:
    parsed = [call.parsed for call in calls if call.parsed is not None]
    good = [p for p in parsed if p.ok]
    if not good:
        failure = parsed[-1].failure if parsed else "no_marker"
        return Judgement(None, parsed[-1].reasoning if parsed else "", failure, attempts)
    if len(calls) == 1:
        return Judgement(good[0].verdict, good[0].reasoning, None, attempts)
    counts = Counter(p.verdict for p in good).most_common()
    top = [verdict for verdict, count in counts if count == counts[0][1]]
    if len(top) == 1:
        winner = top[0]
    elif isinstance(task, AbsoluteTask):
        # an absolute task's verdicts are int scores
        winner = statistics.median_low([p.verdict for p in good if isinstance(p.verdict, int)])
    else:
        return Judgement(None, good[0].reasoning, "no_majority", attempts, agreement=counts[0][1] / len(calls))
    reasoning = next(p.reasoning for p in good if p.verdict == winner) if winner in {p.verdict for p in good} else ""
    agreement = sum(1 for p in good if p.verdict == winner) / len(calls)
    return Judgement(winner, reasoning, None, attempts, agreement=agreement)
