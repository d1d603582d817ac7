"""Resumable training in a job's worker: Trainer checkpoints every `interval_s` seconds, each recorded in the job
store as it lands, and the choice, at a task's start, to resume from the last one or to restart the stage.

A checkpoint is reported only after transformers has written all of it (`on_save` runs after `_save_checkpoint`),
so a worker killed mid-save leaves at most an unrecorded folder, never a recorded half one. Only a folder with
its `trainer_state.json` can be resumed; the final model a task records as its last checkpoint cannot (the task
had finished: it restarts). Imported in worker processes only (it imports transformers).
"""

from __future__ import annotations

import time
from pathlib import Path

from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments

from headwater.platform.jobs.worker_process import TaskContext

TRAINER_STATE = "trainer_state.json"
"""What transformers writes last into a complete checkpoint folder, and reads to resume."""


class JobCheckpoints(TrainerCallback):
    """Asks the Trainer for a checkpoint once `interval_s` seconds have passed since the last one (0: every step),
    and reports each saved one to the job (`TaskContext.checkpoint`), with the loss logged last."""

    def __init__(self, context: TaskContext, interval_s: float) -> None:
        self.context = context
        self.interval_s = interval_s
        self._last_save = time.monotonic()
        self._last_loss: float | None = None

    def on_log(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        logs: dict[str, float] | None = None,
        **kwargs: object,
    ) -> None:
        if logs and "loss" in logs:
            self._last_loss = float(logs["loss"])

    def on_step_end(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: object
    ) -> None:
        last_step = state.max_steps > 0 and state.global_step >= state.max_steps
        if not last_step and time.monotonic() - self._last_save >= self.interval_s:
            control.should_save = True  # the final model is saved anyway: no checkpoint of the last step

    def on_save(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: object) -> None:
        self._last_save = time.monotonic()
        if state.max_steps > 0 and state.global_step >= state.max_steps:
            return  # a trainer's own save of the last step: the task records the final model as that checkpoint
        folder = Path(str(args.output_dir)) / f"checkpoint-{state.global_step}"
        metrics = {"train_loss": self._last_loss} if self._last_loss is not None else {}
        self.context.checkpoint(state.global_step, str(folder), **metrics)


def resume_point(context: TaskContext) -> Path | None:
    """The Trainer checkpoint this attempt continues from (with a `resumed from checkpoint` event), or None: a
    first attempt, or a retry with nothing resumable, which restarts the stage (and says so)."""
    last = Path(context.last_checkpoint) if context.last_checkpoint else None
    if last is not None and (last / TRAINER_STATE).is_file():
        step = last.name.removeprefix("checkpoint-")
        context.event(f"resumed from checkpoint at step {step}", path=str(last), attempt=context.attempt)
        return last
    if context.attempt > 1:
        context.event("no checkpoint to resume from: restarting the stage from the start", attempt=context.attempt)
    return None
