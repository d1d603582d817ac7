"""Resumable training in a job's worker: a checkpoint is asked for once the interval has passed (never on the last
step), each saved one is reported with its folder and loss, and a retry resumes only from a complete Trainer
checkpoint, saying so; otherwise it restarts the stage and says that."""

from __future__ import annotations

import multiprocessing
from multiprocessing.connection import Connection
from pathlib import Path

from transformers import TrainerControl, TrainerState, TrainingArguments

from headwater.platform.jobs.train_checkpoints import JobCheckpoints, resume_point
from headwater.platform.jobs.worker_process import TaskContext


def _context(tmp_path: Path, attempt: int, last: str | None) -> tuple[TaskContext, Connection]:
    """A task context whose messages the returned end of its pipe receives."""
    ours, theirs = multiprocessing.Pipe(duplex=False)
    return TaskContext(theirs, tmp_path, attempt, last), ours


def _sent(conn: Connection) -> list[tuple]:
    messages = []
    while conn.poll():
        messages.append(conn.recv())
    return messages


def test_a_checkpoint_is_asked_for_after_the_interval_and_reported_when_saved(tmp_path):
    context, conn = _context(tmp_path, 1, None)
    args = TrainingArguments(output_dir=str(tmp_path), report_to="none", use_cpu=True)
    state, control = TrainerState(max_steps=10, global_step=3), TrainerControl()
    JobCheckpoints(context, interval_s=3600).on_step_end(args, state, control)
    assert not control.should_save  # the interval has not passed
    every_step = JobCheckpoints(context, interval_s=0)
    every_step.on_step_end(args, state, control)
    assert control.should_save
    last = TrainerControl()
    every_step.on_step_end(args, TrainerState(max_steps=10, global_step=10), last)
    assert not last.should_save  # the final model is saved anyway
    every_step.on_log(args, state, control, logs={"loss": 1.25})
    every_step.on_save(args, state, control)
    assert _sent(conn) == [("checkpoint", 3, str(tmp_path / "checkpoint-3"), {"train_loss": 1.25})]


def test_a_retry_resumes_from_a_complete_trainer_checkpoint(tmp_path):
    folder = tmp_path / "checkpoint-7"
    folder.mkdir()
    (folder / "trainer_state.json").write_text("{}")
    context, conn = _context(tmp_path, 2, str(folder))
    assert resume_point(context) == folder
    assert [m[1] for m in _sent(conn)] == ["resumed from checkpoint at step 7"]


def test_a_retry_without_a_resumable_checkpoint_restarts_the_stage(tmp_path):
    final = tmp_path / "final"  # the finished model a task records last: no trainer state, not resumable
    final.mkdir()
    for attempt, last, said in ((1, None, False), (2, None, True), (2, str(final), True)):
        context, conn = _context(tmp_path, attempt, last)
        assert resume_point(context) is None
        expected = ["no checkpoint to resume from: restarting the stage from the start"] if said else []
        assert [m[1] for m in _sent(conn)] == expected
