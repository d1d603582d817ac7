"""A rich progress bar fed by transformers' Trainer events (imported only by the commands that train)."""

from __future__ import annotations

from typing import Any

from rich.progress import Progress, TaskID
from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments


class ProgressBar(TrainerCallback):
    """Step and loss of a training run on a rich progress task."""

    def __init__(self, progress: Progress, task: TaskID) -> None:
        self.progress, self.task = progress, task

    def on_train_begin(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        self.progress.update(self.task, total=state.max_steps)

    def on_log(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        logs: dict[str, float] | None = None,
        **kwargs: Any,
    ) -> None:
        self.progress.update(self.task, completed=state.global_step, loss=(logs or {}).get("loss", float("nan")))
