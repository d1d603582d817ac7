"""Checkpoint selection on a validation set, as the CFT paper chooses its model.

The paper (Wang, Yue, Chen, arXiv 2501.17703) saves a checkpoint every 2 steps and keeps the one with the best
MATH-500 greedy accuracy, often from mid-run; its official code scores each checkpoint as a direct solver (system
"Please reason step by step, and put your final answer within \\boxed{}.", greedy) and keeps the first with the
highest score. `CheckpointSelector` does this during training: every `eval_steps` optimiser steps, and at the last
one, it answers the validation questions greedily and scores the answers by exact match of the final answer with
the reference, or by a judge model's verdict; the best model so far is saved, and `fine_tune` returns it.
"""

from __future__ import annotations

import logging
import math
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from transformers import (
    PreTrainedModel,
    PreTrainedTokenizerBase,
    TrainerCallback,
    TrainerControl,
    TrainerState,
    TrainingArguments,
)

from headwater.errors import InvalidRequestError
from headwater.jsonl import read_jsonl
from headwater.models.generator import GenerationParams, Generator
from headwater.models.hf_generator import HFGenerator
from headwater.train.cft import TEACHER_SYSTEM, critique_input, final_answer, parse_verdict, same_answer
from headwater.train.methods import SELECT_BY

logger = logging.getLogger(__name__)
SOLVER_SYSTEM = "Please reason step by step, and put your final answer within \\boxed{}."
"""The official evaluation's system prompt (Qwen2.5-Math chain of thought)."""
JUDGE_PARAMS = GenerationParams(max_tokens=1024, temperature=0.0)


@dataclass(frozen=True)
class ValidationItem:
    """A question and its correct final answer."""

    question: str
    reference: str


@dataclass(frozen=True)
class SelectionConfig:
    """How checkpoints are scored and how often (paper: every 2 steps, MATH-500 greedy accuracy)."""

    items: tuple[ValidationItem, ...]
    """The validation set."""
    eval_steps: int = 2
    """Score the model every this many optimiser steps (and at the last step)."""
    select_by: str = "exact-match"
    """`exact-match`: the final answer (last \\boxed{}, else last number) equals the reference; `judge`: the share
    of answers a judge model concludes are right."""
    judge: Generator | None = None
    """The judge model, needed with select_by="judge"."""
    max_tokens: int = 2048
    """Most tokens per validation answer (the official evaluation's max_tokens_per_call)."""
    system: str | None = SOLVER_SYSTEM
    """System prompt of the solver; None sends the question alone."""
    batch_size: int = 8
    """Validation questions generated at once."""

    def __post_init__(self) -> None:
        if not self.items:
            raise InvalidRequestError("the validation set is empty", param="validation_file")
        for name in ("eval_steps", "max_tokens", "batch_size"):
            if getattr(self, name) < 1:
                raise InvalidRequestError(f"{name} must be at least 1, got {getattr(self, name)}", param=name)
        if self.select_by not in SELECT_BY:
            raise InvalidRequestError(
                f"select_by must be one of {', '.join(SELECT_BY)}, got {self.select_by!r}", param="select_by"
            )
        if self.select_by == "judge" and self.judge is None:
            raise InvalidRequestError("select_by 'judge' needs a judge model: give --judge MODEL", param="judge")


@dataclass
class SelectionResult:
    """Every (step, score) measured, and the step whose model was kept."""

    select_by: str
    scores: list[tuple[int, float]] = field(default_factory=list)
    best_step: int | None = None
    best_score: float = -math.inf


def read_validation(path: Path) -> tuple[ValidationItem, ...]:
    """Validation items from JSONL lines with `question` and `reference` (string or number)."""
    items = []
    for number, row in read_jsonl(path, "validation item"):
        if not isinstance(row, dict) or not isinstance(row.get("question"), str) or not row["question"].strip():
            raise InvalidRequestError(
                f"{path} line {number}: field 'question' must be a non-empty string", param="validation_file"
            )
        reference = row.get("reference")
        if isinstance(reference, bool) or not isinstance(reference, str | int | float):
            raise InvalidRequestError(
                f"{path} line {number}: field 'reference' (the correct final answer) must be a string or a number",
                param="validation_file",
            )
        items.append(ValidationItem(row["question"], str(reference)))
    return tuple(items)


def solver_prompt(question: str, system: str | None = SOLVER_SYSTEM) -> list[dict[str, str]]:
    """The model is evaluated as a direct solver, never with the critique prompt."""
    turns = [{"role": "system", "content": system}] if system else []
    return [*turns, {"role": "user", "content": question}]


def judge_prompt(item: ValidationItem, answer: str) -> list[dict[str, str]]:
    """The CFT teacher's prompt, with the reference answer to check against."""
    user = f"{critique_input(item.question, answer)}\n\nReference answer:\n{item.reference}"
    return [{"role": "system", "content": TEACHER_SYSTEM}, {"role": "user", "content": user}]


def exact_match_score(items: Sequence[ValidationItem], answers: Sequence[str]) -> float:
    """Share of answers whose final answer equals the reference."""
    hits = [same_answer(final_answer(a), item.reference) for item, a in zip(items, answers, strict=True)]
    return sum(hits) / len(hits)


def judge_score(items: Sequence[ValidationItem], answers: Sequence[str], judge: Generator) -> float:
    """Share of answers the judge concludes are right; a verdict that does not parse counts as not right."""
    prompts = [judge_prompt(item, a) for item, a in zip(items, answers, strict=True)]
    verdicts = [parse_verdict(g.text) for g in judge.generate(prompts, JUDGE_PARAMS)]
    if None in verdicts:
        logger.warning("%d of %d judge verdicts did not parse", verdicts.count(None), len(verdicts))
    return verdicts.count("right") / len(verdicts)


def score_model(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, config: SelectionConfig) -> float:
    """Greedy answers of `model` to the validation questions, scored by `config.select_by`. The model and the
    tokenizer's padding side are left as they were."""
    was_training, padding_side = model.training, tokenizer.padding_side
    try:
        generator = HFGenerator(model, tokenizer, "candidate", config.batch_size)
        prompts = [solver_prompt(item.question, config.system) for item in config.items]
        answers = [
            g.text for g in generator.generate(prompts, GenerationParams(max_tokens=config.max_tokens, temperature=0.0))
        ]
    finally:
        model.train(was_training)
        tokenizer.padding_side = padding_side
    if config.select_by == "judge":
        return judge_score(config.items, answers, config.judge)  # type: ignore[arg-type]  # checked in the config
    return exact_match_score(config.items, answers)


class CheckpointSelector(TrainerCallback):
    """Scores the model every `eval_steps` optimiser steps and at the last one, and saves it to `folder` whenever
    it beats every earlier score (a tie keeps the earlier model, as the official selection does)."""

    def __init__(self, config: SelectionConfig, folder: Path) -> None:
        self.config, self.folder = config, Path(folder)
        self.result = SelectionResult(config.select_by)

    def on_train_begin(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        if state.is_world_process_zero and self.folder.exists():
            shutil.rmtree(self.folder)  # a previous run's best must not stand in for this one's

    def on_step_end(self, args, state, control, model=None, processing_class=None, **kwargs):  # transformers' signature
        step = state.global_step
        if step % self.config.eval_steps and step != state.max_steps:
            return
        score = score_model(model, processing_class, self.config)
        self.result.scores.append((step, score))
        logger.info("step %d: validation %s %.4f", step, self.config.select_by, score)
        if score > self.result.best_score:
            self.result.best_step, self.result.best_score = step, score
            if state.is_world_process_zero:
                model.save_pretrained(self.folder)
                processing_class.save_pretrained(self.folder)
