"""Worker runners: a job's tasks, in order, each on its own worker, supervised.

`WorkerRunner` holds the supervision; where a worker runs is one method, `_launch`, that returns a `Worker` (a
message channel plus a way to watch and end the worker). `LocalWorkerRunner` (the default) launches local
processes; `RayWorkerRunner` (`headwater.platform.jobs.ray_workers`, `HEADWATER_EXECUTOR=ray`) Ray actors.
`worker_runner` picks one from the settings.

Locally, each task runs in a fresh `spawn`ed process (no state inherited from the gateway's threads, and a crash, an OOM
kill or a segfault in the task cannot take the gateway down). The supervisor records what the worker reports
(events, progress, checkpoints) as it comes, and decides when the worker ends:

- a result → the task succeeded, the next one starts;
- an error raised by the task → the task and the job fail with that error (a deterministic failure is not
  retried: it would fail again);
- the worker died without a word (killed, crashed) → it was *lost*: the task runs again, from its last
  checkpoint, up to its `max_attempts`, then the job fails naming the exit code and the attempts;
- the job's cancel was requested → the worker is terminated (killed after `grace_s`) and the job is cancelled;
  its checkpoints stay (a cancel honoured by the job's last step, `before_success`, raises `StageCancelled`: the job
  is cancelled too);
- the platform is stopping (`stop()`) → the worker is terminated and the job is left `running`, for the next
  start to requeue and resume (`JobStore.requeue_running`).

Each recorded checkpoint rotates the job's Trainer checkpoints (`checkpoint_rotation`): only the last
`checkpoints_kept` stay on disk, and a task resumes from the last checkpoint not deleted.
"""

from __future__ import annotations

import logging
import multiprocessing
import threading
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Protocol

from headwater.config import Settings
from headwater.platform.executors import ray_cluster
from headwater.platform.jobs.checkpoint_rotation import DEFAULT_CHECKPOINTS_KEPT, rotate_checkpoints
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


TaskArgs = tuple[str, dict, str, int, str | None]
"""`run_task`'s arguments but the channel: function, payload, work folder, attempt, last checkpoint."""


class WorkerLaunchError(RuntimeError):
    """A worker cannot be started for a task (its resources can never be had): the task fails with this reason."""


class StageCancelled(Exception):
    """Raised by a job's `before_success` step (a fine-tuning job's evaluate stage) that stopped because the job's
    cancel was requested: the job ends `cancelled`, not `failed`."""


class Worker(Protocol):
    """One attempt of a task on a worker, as its supervisor sees it: the channel of `run_task`'s messages and the
    worker's life."""

    name: str

    def poll(self, timeout_s: float) -> bool:
        """Whether a message waits (within `timeout_s`); EOFError or OSError once the worker closed its channel."""
        ...

    def recv(self) -> tuple:
        """The next message."""
        ...

    def is_alive(self) -> bool:
        """False once the worker has ended and no message can come any more."""
        ...

    def join(self, timeout_s: float) -> int | None:
        """Wait up to `timeout_s` for the worker to end; its exit code, None while it runs."""
        ...

    def terminate(self) -> None:
        """Ask the worker to end (SIGTERM, or end the actor)."""
        ...

    def kill(self) -> None:
        """End the worker at once."""
        ...

    def close(self) -> None:
        """Release the channel and the worker (killed if it still runs)."""
        ...


class LocalWorker:
    """A task's worker process and the receiving end of its pipe."""

    def __init__(self, process: BaseProcess, conn: Connection) -> None:
        self.process = process
        self.conn = conn
        self.name = process.name

    def poll(self, timeout_s: float) -> bool:
        return self.conn.poll(timeout_s)

    def recv(self) -> tuple:
        return self.conn.recv()

    def is_alive(self) -> bool:
        return self.process.is_alive()

    def join(self, timeout_s: float) -> int | None:
        self.process.join(timeout_s)
        return self.process.exitcode

    def terminate(self) -> None:
        self.process.terminate()

    def kill(self) -> None:
        self.process.kill()

    def close(self) -> None:
        self.conn.close()
        if self.process.is_alive():
            self.process.kill()
        self.process.join()


class WorkerRunner:
    """Runs jobs' tasks on workers that `_launch` starts, with the supervision of this module's docstring;
    `checkpoints_kept` Trainer checkpoints of a job stay on disk (0: all)."""

    def __init__(
        self,
        jobs: JobStore,
        workdir: Path,
        poll_s: float = 0.1,
        grace_s: float = 5.0,
        checkpoints_kept: int = DEFAULT_CHECKPOINTS_KEPT,
    ) -> None:
        if checkpoints_kept < 0:
            raise ValueError(f"checkpoints_kept must be 0 (keep all) or more, got {checkpoints_kept}")
        self.jobs = jobs
        self.workdir = workdir
        self.poll_s = poll_s
        self.grace_s = grace_s
        self.checkpoints_kept = checkpoints_kept
        self._stopping = threading.Event()

    def _launch(self, task: TaskInfo, args: TaskArgs) -> Worker:
        """Start a worker that calls `run_task(*args, channel)`."""
        raise NotImplementedError

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
            except StageCancelled as stopped:
                self.jobs.add_event(job_id, str(stopped))
                return self.jobs.transition(job_id, "cancelled")
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
        on_disk = [c for c in self.jobs.checkpoints(job_id) if c.deleted_at is None]  # never a rotated-away one
        last = on_disk[-1].path if on_disk else None
        try:
            worker = self._launch(task, (task.function, task.payload, str(workdir), task.attempts, last))
        except WorkerLaunchError as error:
            return TaskOutcome("error", error=str(error))
        try:
            return self._supervise(job_id, worker)
        finally:
            worker.close()

    def _supervise(self, job_id: str, worker: Worker) -> TaskOutcome:
        while True:
            if self._stopping.is_set():
                self._stop(worker)
                return TaskOutcome("interrupted")
            if self.jobs.get(job_id).cancel_requested_at is not None:
                self._stop(worker)
                return TaskOutcome("cancelled")
            try:
                if worker.poll(self.poll_s):
                    outcome = self._handle(job_id, worker.recv())
                    if outcome is not None:
                        return outcome
                    continue
            except (EOFError, OSError):
                pass  # the worker closed its end: it has ended, with or without a word
            else:
                if worker.is_alive():
                    continue
            return TaskOutcome("lost", exit_code=worker.join(self.grace_s))

    def _handle(self, job_id: str, message: tuple) -> TaskOutcome | None:
        kind, *rest = message
        if kind == "event":
            self.jobs.add_event(job_id, rest[0], data=rest[1])
        elif kind == "progress":
            self.jobs.update(job_id, progress=rest[0])
        elif kind == "checkpoint":
            self.jobs.add_checkpoint(job_id, rest[0], rest[1], rest[2])
            rotate_checkpoints(self.jobs, job_id, self.workdir / job_id, self.checkpoints_kept)
        elif kind == "result":
            return TaskOutcome("result", result=rest[0])
        elif kind == "error":
            return TaskOutcome("error", error=rest[0])
        return None

    def _stop(self, worker: Worker) -> None:
        worker.terminate()
        if worker.join(self.grace_s) is None:
            logger.warning("worker %s ignored SIGTERM for %.0f s; killing it", worker.name, self.grace_s)
            worker.kill()


class LocalWorkerRunner(WorkerRunner):
    """Runs jobs' tasks in local worker processes (the default executor for jobs)."""

    _context = multiprocessing.get_context("spawn")

    def _launch(self, task: TaskInfo, args: TaskArgs) -> Worker:
        ours, theirs = self._context.Pipe(duplex=False)
        process = self._context.Process(
            target=run_task, args=(*args, theirs), name=f"headwater-task-{task.id}", daemon=True
        )
        process.start()
        theirs.close()  # only the worker holds the sending end: its death closes the pipe
        return LocalWorker(process, ours)


def worker_runner(settings: Settings, jobs: JobStore, workdir: Path) -> WorkerRunner:
    """The runner for `settings.executor`: local worker processes, or Ray actors with `HEADWATER_EXECUTOR=ray`
    (each reserving `HEADWATER_TASK_NUM_CPUS` / `HEADWATER_TASK_NUM_GPUS`); Ray is imported only when chosen."""
    if settings.executor != "ray":
        return LocalWorkerRunner(jobs, workdir, checkpoints_kept=settings.checkpoints_kept)
    cluster = ray_cluster(settings)
    from headwater.platform.jobs.ray_workers import RayWorkerRunner

    return RayWorkerRunner(
        jobs,
        workdir,
        cluster,
        settings.task_num_cpus,
        settings.task_num_gpus,
        checkpoints_kept=settings.checkpoints_kept,
    )
