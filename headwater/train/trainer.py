"""`DistillationTrainer`: a frozen teacher's distribution distilled into a student on transformers' Trainer.

The loss compares next-token distributions at every position whose label is counted (responses only by
default; `include_prompt` distils the prompt too, as the official TAID runs did). With `method="taid"` the
`TAIDSchedule` moves t once per optimiser step, from the mean cross-entropy of that step's micro-batches; its
length is the number of optimiser steps the Trainer itself computes when training begins (accumulation, epochs
and processes included); its state is saved in every checkpoint and restored on resume, so a resumed run
continues with the same t.
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import Any, cast

import torch
from transformers import (
    PreTrainedModel,
    PreTrainedTokenizerBase,
    Trainer,
    TrainerCallback,
    TrainerControl,
    TrainerState,
    TrainingArguments,
)
from transformers.trainer_utils import TrainOutput, get_last_checkpoint

from headwater.errors import InvalidRequestError
from headwater.train.losses import distill_loss
from headwater.train.methods import METHODS
from headwater.train.taid import TAIDSchedule, taid_terms

logger = logging.getLogger(__name__)
SCHEDULE_FILE = "taid_schedule.json"


def check_compatible(
    student: PreTrainedModel,
    teacher: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    teacher_tokenizer: PreTrainedTokenizerBase | None = None,
) -> int:
    """The vocabulary width both models are compared on: the tokenizer's length. Models with padded embeddings
    are fine; different tokenizers, or a model with fewer rows than the tokenizer, are not."""
    if teacher_tokenizer is not None and teacher_tokenizer.get_vocab() != tokenizer.get_vocab():
        raise InvalidRequestError(
            "the teacher's tokenizer differs from the student's: distillation here needs one shared tokenizer",
            param="teacher",
        )
    width = len(tokenizer)
    for role, model in (("student", student), ("teacher", teacher)):
        rows = model.get_output_embeddings().weight.shape[0]
        if rows < width:
            raise InvalidRequestError(
                f"the {role} has {rows} output rows but the tokenizer has {width} tokens", param=role
            )
    return width


class _ScheduleCallback(TrainerCallback):
    """Gives the schedule the run's length, updates t once per optimiser step, and writes the schedule into each
    checkpoint."""

    def __init__(self, trainer: DistillationTrainer) -> None:
        self.trainer = trainer

    def on_train_begin(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        self.trainer.begin_schedule(state.max_steps)

    def on_step_end(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any) -> None:
        self.trainer.end_optimizer_step(state.global_step - 1)

    def on_save(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any) -> None:
        schedule = self.trainer.schedule
        if schedule is not None:
            # TrainingArguments fills output_dir in ("trainer_output") when none is given
            folder = Path(cast(str, args.output_dir)) / f"checkpoint-{state.global_step}"
            folder.mkdir(parents=True, exist_ok=True)
            (folder / SCHEDULE_FILE).write_text(json.dumps(schedule.state_dict()))


class DistillationTrainer(Trainer):
    """Trainer whose loss distils `teacher` into the model being trained."""

    loss_is_scaled_for_ga = False  # our loss is a per-micro-batch mean: let the Trainer divide by accumulation

    def __init__(
        self,
        *args: Any,
        teacher: PreTrainedModel,
        method: str = "taid",
        schedule: TAIDSchedule | None = None,
        vocab_size: int | None = None,
        temperature: float = 1.0,
        alpha: float = 0.1,
        beta: float = 0.1,
        **kwargs: Any,  # forwarded to Trainer
    ) -> None:
        if method not in METHODS:
            raise InvalidRequestError(f"unknown method {method!r}; allowed: {', '.join(METHODS)}", param="method")
        super().__init__(*args, **kwargs)
        self.teacher = teacher.eval()
        for parameter in self.teacher.parameters():
            parameter.requires_grad_(False)
        self.method, self.temperature, self.alpha, self.beta = method, temperature, alpha, beta
        self.vocab_size = vocab_size
        self.schedule = schedule if schedule is not None or method != "taid" else TAIDSchedule()
        self._step_losses: list[float] = []
        self._logged: dict[str, float] = {}
        self.add_callback(_ScheduleCallback(self))

    def begin_schedule(self, max_steps: int) -> None:
        """Give the schedule the run's length: the optimiser steps the Trainer computed from its own dataloader
        (`state.max_steps`, after sharding across processes, with accumulation and epochs). A length given
        explicitly is kept, with a warning when it differs (t would reach t_end early, or never)."""
        if self.schedule is None:
            return
        if self.schedule.total_steps is None:
            self.schedule.total_steps = max_steps
        elif self.schedule.total_steps != max_steps:
            logger.warning(
                "the TAID schedule spans %d steps but the Trainer runs %d: leave total_steps unset to follow the run",
                self.schedule.total_steps,
                max_steps,
            )

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):  # transformers' signature
        labels = inputs["labels"]
        outputs = model(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"])
        with torch.no_grad():
            teacher_logits = self.teacher(
                input_ids=inputs["input_ids"].to(self.teacher.device),
                attention_mask=inputs["attention_mask"].to(self.teacher.device),
            ).logits
        width = self.vocab_size or outputs.logits.shape[-1]
        student = outputs.logits[:, :-1, :width]
        teacher = teacher_logits[:, :-1, :width].to(student.device)
        mask = (labels[:, 1:] != -100).to(student.device)
        if self.method == "taid":
            terms = taid_terms(student, teacher, self.schedule.t, mask, temperature=self.temperature)
            loss = terms.kl
            if model.training and mask.any():
                self._step_losses.append(terms.cross_entropy.item())
            self._logged = {
                "taid_t": self.schedule.t,
                "taid_kl": terms.kl.item(),
                "taid_ce": terms.cross_entropy.item(),
                "taid_momentum": self.schedule.momentum,
            }
        else:
            loss = distill_loss(
                self.method, student, teacher, mask, temperature=self.temperature, alpha=self.alpha, beta=self.beta
            )
        return (loss, outputs) if return_outputs else loss

    def end_optimizer_step(self, step: int) -> None:
        """Move t with the mean cross-entropy of the step's micro-batches (none: no move), averaged over all
        processes first so that every rank of a distributed run keeps the same t."""
        if self.schedule is not None and self._step_losses:
            local = torch.tensor(sum(self._step_losses) / len(self._step_losses), device=self.args.device)
            self.schedule.update(self.accelerator.reduce(local, reduction="mean").item(), step)
        self._step_losses = []

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        if self._logged and "loss" in logs:
            logs = {**logs, **self._logged}
        super().log(logs, start_time)

    def train(
        self,
        resume_from_checkpoint: str | bool | None = None,
        trial: Any = None,
        ignore_keys_for_eval: list[str] | None = None,
    ) -> TrainOutput:
        if resume_from_checkpoint and self.schedule is not None:
            folder = (
                get_last_checkpoint(self.args.output_dir) if resume_from_checkpoint is True else resume_from_checkpoint
            )
            state_file = Path(folder) / SCHEDULE_FILE if folder else None
            if state_file is not None and state_file.exists():
                self.schedule.load_state_dict(json.loads(state_file.read_text()))
            else:  # t restarts at t_start (then jumps to the linear floor): not the run that was interrupted
                logger.warning("no %s in %s: the TAID schedule restarts", SCHEDULE_FILE, folder)
        return super().train(resume_from_checkpoint, trial, ignore_keys_for_eval)


def held_out_kl(
    student: PreTrainedModel, teacher: PreTrainedModel, batches: list[dict[str, torch.Tensor]], vocab_size: int
) -> float:
    """Mean forward KL(teacher ‖ student) over the counted positions of held-out batches."""
    total, count = 0.0, 0
    with torch.no_grad():
        for batch in batches:
            s = student(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
            t = teacher(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
            mask = batch["labels"][:, 1:] != -100
            tokens = int(mask.sum())
            if tokens:
                total += distill_loss("kl", s[:, :-1, :vocab_size], t[:, :-1, :vocab_size], mask).item() * tokens
                count += tokens
    return total / count if count else math.nan
