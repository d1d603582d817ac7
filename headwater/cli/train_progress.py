"""A rich progress bar fed by transformers' Trainer events (imported only by the commands that train)."""

from __future__ import annotations

from rich.progress import Progress
from transformers import TrainerCallback


class ProgressBar(TrainerCallback):
    """Step and loss of a training run on a rich progress task."""

    def __init__(self, progress: Progress, task: int) -> None:
        self.progress, self.task = progress, task

    def on_train_begin(self, args, state, control, **kwargs):  # noqa: ANN001, ANN201 - transformers' signature
        self.progress.update(self.task, total=state.max_steps)

    def on_log(self, args, state, control, logs=None, **kwargs):  # noqa: ANN001, ANN201
        self.progress.update(self.task, completed=state.global_step, loss=(logs or {}).get("loss", float("nan")))
