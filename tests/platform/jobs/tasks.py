"""Task functions the worker tests run in worker processes (importable by path from a spawned process)."""

from __future__ import annotations

import os
import signal
import time

from headwater.platform.jobs.worker_process import TaskContext


def count(payload: dict, context: TaskContext) -> dict:
    """Reports progress, a checkpoint and an event, then returns the sum of `numbers`."""
    context.event("counting", n=len(payload["numbers"]))
    context.progress(0.5)
    (context.workdir / "ckpt").write_text("1")
    context.checkpoint(1, str(context.workdir / "ckpt"), loss=0.5)
    return {"sum": sum(payload["numbers"])}


def die_until(payload: dict, context: TaskContext) -> dict:
    """Kills its own worker (SIGKILL, as the OOM killer would) on the first `deaths` attempts."""
    if context.attempt <= payload["deaths"]:
        os.kill(os.getpid(), signal.SIGKILL)
    return {"attempt": context.attempt, "resumed_from": context.last_checkpoint}


def raise_error(payload: dict, context: TaskContext) -> dict:
    raise ValueError(f"bad value {payload['value']}")


def sleep(payload: dict, context: TaskContext) -> dict:
    context.event("sleeping")
    time.sleep(payload["seconds"])
    return {}


def orphan(payload: dict, context: TaskContext) -> dict:
    """Writes its pid, then sleeps: the test kills the supervisor and checks that this worker ends too."""
    (context.workdir / "pid").write_text(str(os.getpid()))
    time.sleep(120)
    return {}


def trainer_checkpoints(payload: dict, context: TaskContext) -> dict:
    """Writes and reports `steps` Trainer-like checkpoint folders (`checkpoint-N` with a trainer_state.json), then a
    final model folder as its last checkpoint, as a train task does."""
    for step in range(1, payload["steps"] + 1):
        folder = context.workdir / f"checkpoint-{step}"
        folder.mkdir()
        (folder / "trainer_state.json").write_text("{}")
        context.checkpoint(step, str(folder), train_loss=1.0 / step)
    final = context.workdir / "final"
    final.mkdir()
    (final / "model.safetensors").write_text("weights")
    context.checkpoint(payload["steps"], str(final), train_loss=0.5)
    return {"model_path": str(final)}
