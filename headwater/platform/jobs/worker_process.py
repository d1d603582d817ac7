"""What runs inside a worker process: import the task's function, call it, send its messages to the supervisor.

Kept free of heavy imports (no store, no torch) so a worker starts fast; the task's own module imports what it
needs. Messages are small tuples over a pipe: ("event", message, data), ("progress", fraction),
("checkpoint", step, path, metrics), then exactly one of ("result", dict) or ("error", text). A worker that dies
without sending either is "lost", and its supervisor retries the task.
"""

from __future__ import annotations

import importlib
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path


@dataclass
class TaskContext:
    """What a task function gets besides its payload: a work folder that survives retries, the last checkpoint
    (to resume from after a lost worker or a restart) and ways to report back."""

    conn: Connection
    workdir: Path
    attempt: int
    last_checkpoint: str | None = None

    def event(self, message: str, **data: object) -> None:
        self.conn.send(("event", message, data))

    def progress(self, fraction: float) -> None:
        self.conn.send(("progress", float(fraction)))

    def checkpoint(self, step: int, path: str, **metrics: float) -> None:
        self.last_checkpoint = path
        self.conn.send(("checkpoint", int(step), str(path), metrics))


def resolve(function: str) -> Callable[[dict, TaskContext], dict | None]:
    """`package.module:function` → the function."""
    module, _, name = function.partition(":")
    return getattr(importlib.import_module(module), name)


PARENT_CHECK_S = 1.0


def _exit_with_parent(parent: int) -> None:
    """End this worker once its supervisor is gone (the platform was killed): a restarted platform reruns the task,
    and an orphan would only burn the machine meanwhile."""
    while os.getppid() == parent:
        time.sleep(PARENT_CHECK_S)
    os._exit(1)


def run_task(
    function: str, payload: dict, workdir: str, attempt: int, last_checkpoint: str | None, conn: Connection
) -> None:
    """The worker process's entry point."""
    threading.Thread(target=_exit_with_parent, args=(os.getppid(),), daemon=True).start()
    context = TaskContext(conn, Path(workdir), attempt, last_checkpoint)
    try:
        result = resolve(function)(payload, context)
        conn.send(("result", result or {}))
    except Exception as error:  # reported to the supervisor, which fails the task without retrying it
        conn.send(("error", f"{type(error).__name__}: {error}"))
    finally:
        conn.close()
