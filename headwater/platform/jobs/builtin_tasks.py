"""Task functions the platform itself uses: `noop`, the job system's own overhead probe (benchmarks, health)."""

from __future__ import annotations

from headwater.platform.jobs.worker_process import TaskContext


def noop(payload: dict, context: TaskContext) -> dict:
    """Does nothing: a job made of it measures what the job system alone costs (store, spawn, supervision)."""
    return {"attempt": context.attempt}
