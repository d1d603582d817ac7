"""The asyncio tasks through which each job service runs its jobs inside the gateway's event loop."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

from headwater.platform.jobs.records import JobStore


class RunningJobs:
    """At most one task per job id, so an idempotent create returning a queued job again, or a restart, never runs
    a job twice; awaited together when the gateway stops."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._tasks: dict[str, asyncio.Task[None]] = {}

    def __contains__(self, job_id: str) -> bool:
        return job_id in self._tasks

    def spawn(self, job_id: str, work: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Start `work()` for `job_id` unless a task for it is still running (call inside the event loop)."""
        if job_id in self._tasks:
            return
        task = asyncio.get_running_loop().create_task(work(), name=f"{self.name}-{job_id}")
        self._tasks[job_id] = task
        task.add_done_callback(lambda _t: self._tasks.pop(job_id, None))

    async def stop(self, cancel: bool = False) -> None:
        """Wait for every task to end: after the service told its work to stop, or at once with `cancel`."""
        if cancel:
            for task in list(self._tasks.values()):
                task.cancel()
        await asyncio.gather(*self._tasks.values(), return_exceptions=True)


def jobs_to_resume(jobs: JobStore, kind: str) -> list[str]:
    """After a (re)start: the jobs of `kind` a stopped gateway left running, requeued, and every queued one."""
    jobs.requeue_running(kind)
    return jobs.ids_in_state(kind, "queued")
