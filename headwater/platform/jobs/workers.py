"""The local worker runner: a job's tasks, in order, each in its own worker process, supervised.

Each task runs in a fresh `spawn`ed process (no state inherited from the gateway's threads, and a crash, an OOM
kill or a segfault in the task cannot take the gateway down). The supervisor records what the worker reports
(events, progress, checkpoints) as it comes, and decides when the worker ends:

- a result → the task succeeded, the next one starts;
- an error raised by the task → the task and the job fail with that error (a deterministic failure is not
  retried: it would fail again);
- the worker died without a word (killed, crashed) → it was *lost*: the task runs again, from its last
  checkpoint, up to its `max_attempts`, then the job fails naming the exit code and the attempts;
- the job's cancel was requested → the worker is terminated (killed after `grace_s`) and the job is cancelled;
  its checkpoints stay;
- the platform is stopping (`stop()`) → the worker is terminated and the job is left `running`, for the next
  start to requeue and resume (`JobStore.requeue_running`).
"""

from __future__ import annotations

import logging
import multiprocessing
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path

from headwater.platform.jobs.records import JobRecord, JobStore, TaskInfo
from headwater.platform.jobs.worker_process import run_task

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TaskOutcome:
    """How one attempt of a task ended: `result`, `error`, `lost` (with the exit code), `cancelled` or
    `interrupted` (the platform is stopping)."""

    status: str
    result: dict | None = None
    error: str | None = None
    exit_code: int | None = None


class LocalWorkerRunner:
    """Runs jobs' tasks in local worker processes (the default executor for jobs)."""

    def __init__(self, jobs: JobStore, workdir: Path, poll_s: float = 0.1, grace_s: float = 5.0) -> None:
        self.jobs = jobs
        self.workdir = workdir
        self.poll_s = poll_s
        self.grace_s = grace_s
        self._context = multiprocessing.get_context("spawn")
        self._stopping = threading.Event()

    def stop(self) -> None:
        """Interrupt every running task (from any thread); their jobs stay `running` until the next start."""
        self._stopping.set()

    def run(self, job_id: str, before_success: Callable[[JobRecord], None] | None = None) -> JobRecord:
        """Run a queued job to its end (blocking); tasks that already succeeded (before a restart) are skipped.
        `before_success` (registering a fine-tuned model, say) runs after the last task; if it raises, the job fails
        with its message instead of succeeding."""
        job = self.jobs.get(job_id)
        if job.state == "queued":
            job = self.jobs.transition(job_id, "running")
        if job.state != "running":
            return job
        for task in self.jobs.tasks(job_id):
            if task.state == "succeeded":
                continue
            outcome = self._run_task(job_id, task)
            if outcome.status == "interrupted":
                return self.jobs.get(job_id)
            if outcome.status == "cancelled":
                return self.jobs.transition(job_id, "cancelled")
            if outcome.status != "result":
                return self.jobs.transition(job_id, "failed", outcome.error)
        if before_success is not None:
            try:
                before_success(self.jobs.get(job_id))
            except Exception as error:  # the job's last step failed: recorded as the reason
                return self.jobs.transition(job_id, "failed", f"{type(error).__name__}: {error}")
        return self.jobs.transition(job_id, "succeeded")

    def _run_task(self, job_id: str, task: TaskInfo) -> TaskOutcome:
        while True:
            task = self.jobs.update_task(task.id, "running", started=True)
            self.jobs.add_event(job_id, f"task {task.name} started (attempt {task.attempts} of {task.max_attempts})")
            outcome = self._attempt(job_id, task)
            if outcome.status == "result":
                self.jobs.update_task(task.id, "succeeded", result=outcome.result)
                self.jobs.add_event(job_id, f"task {task.name} succeeded")
                return outcome
            if outcome.status == "cancelled":
                self.jobs.update_task(task.id, "cancelled")
                return outcome
            if outcome.status == "interrupted":
                self.jobs.add_event(job_id, f"task {task.name} interrupted: the platform is stopping", level="warning")
                return outcome
            if outcome.status == "error":
                error = f"task {task.name} failed: {outcome.error}"
                self.jobs.update_task(task.id, "failed", error=error)
                return TaskOutcome("error", error=error)
            lost = f"task {task.name}: its worker was lost (exit code {outcome.exit_code})"
            if task.attempts >= task.max_attempts:
                error = f"{lost} on all {task.max_attempts} attempts; giving up"
                self.jobs.update_task(task.id, "failed", error=error)
                return TaskOutcome("error", error=error)
            self.jobs.add_event(job_id, f"{lost}; retrying", level="warning", data={"exit_code": outcome.exit_code})

    def _attempt(self, job_id: str, task: TaskInfo) -> TaskOutcome:
        workdir = self.workdir / job_id / task.name
        workdir.mkdir(parents=True, exist_ok=True)
        checkpoints = self.jobs.checkpoints(job_id)
        last = checkpoints[-1].path if checkpoints else None
        ours, theirs = self._context.Pipe(duplex=False)
        args = (task.function, task.payload, str(workdir), task.attempts, last, theirs)
        process = self._context.Process(target=run_task, args=args, name=f"headwater-task-{task.id}", daemon=True)
        process.start()
        theirs.close()  # only the worker holds the sending end: its death closes the pipe
        try:
            return self._supervise(job_id, process, ours)
        finally:
            ours.close()
            if process.is_alive():
                process.kill()
            process.join()

    def _supervise(self, job_id: str, process: BaseProcess, conn: Connection) -> TaskOutcome:
        while True:
            if self._stopping.is_set():
                self._stop(process)
                return TaskOutcome("interrupted")
            if self.jobs.get(job_id).cancel_requested_at is not None:
                self._stop(process)
                return TaskOutcome("cancelled")
            try:
                if conn.poll(self.poll_s):
                    outcome = self._handle(job_id, conn.recv())
                    if outcome is not None:
                        return outcome
                    continue
            except (EOFError, OSError):
                pass  # the worker closed its end: it has ended, with or without a word
            else:
                if process.is_alive():
                    continue
            process.join(self.grace_s)
            return TaskOutcome("lost", exit_code=process.exitcode)

    def _handle(self, job_id: str, message: tuple) -> TaskOutcome | None:
        kind, *rest = message
        if kind == "event":
            self.jobs.add_event(job_id, rest[0], data=rest[1])
        elif kind == "progress":
            self.jobs.update(job_id, progress=rest[0])
        elif kind == "checkpoint":
            self.jobs.add_checkpoint(job_id, rest[0], rest[1], rest[2])
            self.jobs.add_event(job_id, f"checkpoint at step {rest[0]}", data={"path": rest[1], **rest[2]})
        elif kind == "result":
            return TaskOutcome("result", result=rest[0])
        elif kind == "error":
            return TaskOutcome("error", error=rest[0])
        return None

    def _stop(self, process: BaseProcess) -> None:
        process.terminate()
        deadline = time.monotonic() + self.grace_s
        while process.is_alive() and time.monotonic() < deadline:
            process.join(0.05)
        if process.is_alive():
            logger.warning("worker %s ignored SIGTERM for %.0f s; killing it", process.name, self.grace_s)
            process.kill()
