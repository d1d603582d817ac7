"""Distillation as one call: `distill(DistillConfig(...), conversations, output)` loads the pair, optionally lets
the teacher write the targets, trains the student with TAID (Shing et al., ICLR 2025) or a baseline loss on
transformers' Trainer, and saves it. The CLI, the example and the platform's `distill` fine-tuning job all call this.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments

from headwater.errors import InvalidRequestError
from headwater.models.fine_tuning import quiet, save_final, train_run
from headwater.models.generator import GenerationParams
from headwater.models.hf_generator import HFGenerator
from headwater.models.loading import load_model, load_tokenizer
from headwater.train.data import Conversation, collate, encode
from headwater.train.methods import METHODS
from headwater.train.taid import TAIDSchedule
from headwater.train.trainer import DistillationTrainer, check_compatible


@dataclass(frozen=True)
class DistillConfig:
    """Everything a distillation run needs besides its data."""

    teacher: str
    """Teacher: HF id, local folder or built-in."""
    student: str
    """Student: HF id, local folder or built-in; must share the teacher's tokenizer."""
    method: str = "taid"
    """taid, or a baseline loss: kl, rkl, tvd, skew_kl, skew_rkl, jsd."""
    generate_targets: bool = False
    """Let the teacher write the responses first (greedy)."""
    target_tokens: int = 128
    """Most tokens per generated target."""
    t_start: float = 0.4
    """TAID's initial interpolation t (the paper uses 0.4 or 0.2 by pair)."""
    taid_alpha: float = 5e-4
    """TAID's adaptive step size α."""
    adaptive: bool = True
    """TAID's adaptive schedule (off: the linear ramp)."""
    epochs: float = 1.0
    """Passes over the data (ignored when max_steps is set)."""
    max_steps: int = 0
    """Optimiser steps (0: from epochs, counted by the Trainer)."""
    batch_size: int = 8
    """Examples per micro-batch."""
    grad_accum: int = 1
    """Micro-batches per optimiser step."""
    lr: float = 1e-4
    """AdamW learning rate (cosine schedule, as the paper)."""
    max_length: int = 512
    """Tokens per example, prompt included."""
    temperature: float = 1.0
    """Softmax temperature of both models."""
    include_prompt: bool = False
    """Distil prompt tokens too (the official runs did)."""
    data_dir: Path = field(default_factory=lambda: Path(".headwater"))
    """Where built-in models live."""
    seed: int = 0

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise InvalidRequestError(f"unknown method {self.method!r}; allowed: {', '.join(METHODS)}", param="method")
        for name in ("batch_size", "grad_accum", "max_length", "target_tokens"):
            if getattr(self, name) < 1:
                raise InvalidRequestError(f"{name} must be at least 1, got {getattr(self, name)}", param=name)
        if self.max_steps < 0 or self.epochs <= 0 or self.lr <= 0 or self.temperature <= 0:
            raise InvalidRequestError(
                "max_steps must be ≥ 0 and epochs, lr and temperature > 0", param="max_steps/epochs/lr/temperature"
            )


@dataclass(frozen=True)
class DistillStep:
    """Progress after an optimiser step, for a progress bar."""

    step: int
    total: int
    loss: float | None
    t: float | None
    tokens_per_s: float


@dataclass(frozen=True)
class DistillResult:
    method: str
    steps: int
    train_loss: float
    examples: int
    t: float | None
    model: str
    """The folder of the distilled student (`OUTPUT/final`)."""

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


class _StepReporter(TrainerCallback):
    """Turns the Trainer's events into `DistillStep`s for the caller's hook: one per optimiser step, sent when the
    step's loss is logged (the Trainer logs after `on_step_end`, so reporting there would pair each step with the
    previous step's loss and never show the last one)."""

    def __init__(self, hook: Callable[[DistillStep], None], tokens_per_step: float) -> None:
        self.hook, self.tokens_per_step = hook, tokens_per_step
        self.started = time.perf_counter()
        self.first_step = 0
        self.loss: float | None = None
        self.t: float | None = None

    def on_train_begin(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        # a resumed run starts at its checkpoint's step: the rate counts only the steps this run trains
        self.started, self.first_step = time.perf_counter(), state.global_step

    def on_log(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        logs: dict[str, float] | None = None,
        **kwargs: Any,
    ) -> None:
        logs = logs or {}
        self.t = logs.get("taid_t", self.t)
        if "loss" not in logs:  # the end-of-training summary (train_loss, runtime), not a step
            return
        self.loss = logs["loss"]
        trained = (state.global_step - self.first_step) * self.tokens_per_step
        rate = trained / max(1e-9, time.perf_counter() - self.started)
        self.hook(DistillStep(state.global_step, state.max_steps, self.loss, self.t, rate))


def write_targets(
    conversations: list[Conversation],
    teacher: HFGenerator,
    max_tokens: int,
    on_batch: Callable[[int, int], None] | None = None,
) -> list[Conversation]:
    """The conversations with the teacher's greedy responses as targets; `on_batch(done, total)` after each batch."""
    prompts = [conversation.prompt for conversation in conversations]
    generations = []
    for start in range(0, len(prompts), teacher.batch_size):
        batch = prompts[start : start + teacher.batch_size]
        generations += teacher.generate(batch, GenerationParams(max_tokens=max_tokens, temperature=0.0))
        if on_batch is not None:
            on_batch(len(generations), len(prompts))
    return [Conversation(c.prompt, g.text) for c, g in zip(conversations, generations, strict=True)]


def _training_arguments(config: DistillConfig, output: Path) -> TrainingArguments:
    return TrainingArguments(
        output_dir=str(output),
        per_device_train_batch_size=config.batch_size,
        gradient_accumulation_steps=config.grad_accum,
        max_steps=config.max_steps or -1,  # -1: the Trainer counts the steps of `epochs` from its own dataloader
        num_train_epochs=config.epochs,
        learning_rate=config.lr,
        lr_scheduler_type="cosine",
        max_grad_norm=1.0,
        logging_steps=1,
        save_strategy="steps",
        save_steps=0.25,  # a share of the run's steps
        save_total_limit=2,
        report_to="none",
        disable_tqdm=True,
        seed=config.seed,
        log_level="error",
    )


def distill(
    config: DistillConfig,
    conversations: list[Conversation],
    output: Path | str,
    on_step: Callable[[DistillStep], None] | None = None,
    on_targets: Callable[[int, int], None] | None = None,
    callbacks: Sequence[TrainerCallback] = (),
    resume_from: Path | str | None = None,
) -> DistillResult:
    """Distil `config.teacher` into `config.student` on `conversations`; the student is saved to `output/final` and a
    summary to `output/distill_summary.json`. Bad input raises `InvalidRequestError` before any training.

    `callbacks` join the Trainer after its TAID schedule's own, so their `on_save` sees a checkpoint folder that
    already holds the schedule (a job records the folder there, and only a recorded one is resumed). `resume_from`,
    a checkpoint folder of an earlier run of the same distillation (`output/checkpoint-N`), continues it: weights,
    optimiser, scheduler, RNG, data order and TAID's t, momentum and last loss are restored, and t keeps following
    the global step (the run's length is recounted from the same data, so the linear floor is the same)."""
    if not conversations:
        raise InvalidRequestError("there are no conversations to distil on", param="data")
    output = Path(output)
    tokenizer = load_tokenizer(config.student, data_dir=config.data_dir)
    teacher_model = load_model(config.teacher, data_dir=config.data_dir)
    student_model = load_model(config.student, data_dir=config.data_dir).train()
    teacher_tokenizer = load_tokenizer(config.teacher, data_dir=config.data_dir)
    width = check_compatible(student_model, teacher_model, tokenizer, teacher_tokenizer)
    if config.generate_targets:
        teacher = HFGenerator(teacher_model, tokenizer, config.teacher)
        conversations = write_targets(conversations, teacher, config.target_tokens, on_targets)
    examples = [encode(c, tokenizer, config.max_length, config.include_prompt) for c in conversations]
    # total_steps unset: the trainer sets it to the optimiser steps it runs (accumulation, epochs, processes)
    schedule = (
        TAIDSchedule(t_start=config.t_start, alpha=config.taid_alpha, adaptive=config.adaptive)
        if config.method == "taid"
        else None
    )
    trainer = DistillationTrainer(
        model=student_model,
        args=_training_arguments(config, output),
        train_dataset=examples,
        teacher=teacher_model,
        method=config.method,
        schedule=schedule,
        vocab_size=width,
        temperature=config.temperature,
        data_collator=functools.partial(collate, pad_id=tokenizer.pad_token_id),
    )
    quiet(trainer)
    if on_step is not None:
        mean_length = sum(len(e["input_ids"]) for e in examples) / len(examples)
        trainer.add_callback(_StepReporter(on_step, config.batch_size * config.grad_accum * mean_length))
    for callback in callbacks:
        trainer.add_callback(callback)
    loss = train_run(trainer, resume_from)
    final = save_final(trainer, tokenizer, output)
    result = DistillResult(
        config.method,
        trainer.state.global_step,
        loss,
        len(examples),
        schedule.t if schedule else None,
        str(final),
    )
    (output / "distill_summary.json").write_text(json.dumps(result.to_dict(), indent=2))
    return result
