"""The local worker runner: tasks in worker processes, lost workers retried, errors and cancels recorded."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from headwater.platform.jobs.records import JobStore, TaskRow, TaskSpec
from headwater.platform.jobs.workers import LocalWorkerRunner
from headwater.platform.store import Store

TASKS = "tests.platform.jobs.tasks"


@pytest.fixture
def runner(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'h.db'}")
    yield LocalWorkerRunner(JobStore(store), tmp_path / "work", poll_s=0.02, grace_s=2)
    store.engine.dispose()


def _job(runner: LocalWorkerRunner, *tasks: TaskSpec):
    return runner.jobs.create("acme", "test", "none", {}, list(tasks))


def test_tasks_run_in_order_and_report(runner):
    job = _job(
        runner,
        TaskSpec("first", f"{TASKS}:count", {"numbers": [1, 2]}),
        TaskSpec("second", f"{TASKS}:count", {"numbers": [3, 4]}),
    )
    done = runner.run(job.id)
    assert done.state == "succeeded"
    assert [t.result for t in runner.jobs.tasks(job.id)] == [{"sum": 3}, {"sum": 7}]
    assert [c.metrics for c in runner.jobs.checkpoints(job.id)] == [{"loss": 0.5}, {"loss": 0.5}]
    assert "counting" in [e.message for e in runner.jobs.events(job.id)]


def test_a_lost_worker_is_retried_from_its_checkpoint(runner):
    job = _job(runner, TaskSpec("t", f"{TASKS}:die_until", {"deaths": 2}, max_attempts=3))
    runner.jobs.add_checkpoint(job.id, 5, "/ckpt/5")
    assert runner.run(job.id).state == "succeeded"
    [task] = runner.jobs.tasks(job.id)
    assert (task.attempts, task.result) == (3, {"attempt": 3, "resumed_from": "/ckpt/5"})
    warnings = [e for e in runner.jobs.events(job.id) if e.level == "warning"]
    assert len(warnings) == 2 and "exit code -9" in warnings[0].message


def test_a_worker_lost_too_often_fails_the_job_with_the_reason(runner):
    job = _job(runner, TaskSpec("t", f"{TASKS}:die_until", {"deaths": 5}, max_attempts=2))
    done = runner.run(job.id)
    assert done.state == "failed"
    assert "worker was lost (exit code -9) on all 2 attempts" in done.error
    assert runner.jobs.tasks(job.id)[0].attempts == 2


def test_an_error_in_the_task_fails_the_job_without_retry(runner):
    job = _job(
        runner,
        TaskSpec("bad", f"{TASKS}:raise_error", {"value": 7}),
        TaskSpec("never", f"{TASKS}:count", {"numbers": []}),
    )
    done = runner.run(job.id)
    assert done.state == "failed" and done.error == "task bad failed: ValueError: bad value 7"
    bad, never = runner.jobs.tasks(job.id)
    assert (bad.attempts, never.state) == (1, "queued")


def test_cancel_stops_the_worker(runner):
    job = _job(runner, TaskSpec("slow", f"{TASKS}:sleep", {"seconds": 60}))
    threading.Thread(target=_cancel_when_running, args=(runner.jobs, job.id), daemon=True).start()
    done = runner.run(job.id)
    assert done.state == "cancelled"
    assert runner.jobs.tasks(job.id)[0].state == "cancelled"


def _cancel_when_running(jobs: JobStore, job_id: str) -> None:
    while "sleeping" not in [e.message for e in jobs.events(job_id)]:
        time.sleep(0.02)
    jobs.request_cancel(job_id, "acme", "test")


def test_a_stopping_platform_leaves_the_job_running_and_a_restart_resumes_it(runner, tmp_path):
    job = _job(
        runner,
        TaskSpec("first", f"{TASKS}:count", {"numbers": [1]}),
        TaskSpec("slow", f"{TASKS}:sleep", {"seconds": 60}),
    )
    threading.Thread(target=_stop_when_sleeping, args=(runner, job.id), daemon=True).start()
    assert runner.run(job.id).state == "running"
    assert runner.jobs.requeue_running("test") == [job.id]
    restarted = LocalWorkerRunner(runner.jobs, tmp_path / "work", poll_s=0.02)
    slow = runner.jobs.tasks(job.id)[1]
    with runner.jobs.store._session.begin() as session:  # the resumed run needs no minute of sleep
        session.get(TaskRow, slow.id).payload = '{"seconds": 0}'
    assert restarted.run(job.id).state == "succeeded"
    first, second = runner.jobs.tasks(job.id)
    assert (first.attempts, second.attempts) == (1, 2)


def _stop_when_sleeping(runner: LocalWorkerRunner, job_id: str) -> None:
    while "sleeping" not in [e.message for e in runner.jobs.events(job_id)]:
        time.sleep(0.02)
    runner.stop()


ORPHAN_PROBE = """
import sys
from pathlib import Path
from headwater.platform.jobs.records import JobStore, TaskSpec
from headwater.platform.jobs.workers import LocalWorkerRunner
from headwater.platform.store import Store

folder = Path(sys.argv[1])
jobs = JobStore(Store(f"sqlite:///{folder / 'h.db'}"))
job = jobs.create("acme", "test", "none", {}, [TaskSpec("t", "tests.platform.jobs.tasks:orphan", {})])
LocalWorkerRunner(jobs, folder / "work").run(job.id)
"""


def test_a_worker_ends_when_its_platform_is_killed(tmp_path):
    supervisor = subprocess.Popen([sys.executable, "-c", ORPHAN_PROBE, str(tmp_path)], cwd=os.getcwd())
    pid_files = tmp_path / "work"
    deadline = time.monotonic() + 60
    while not list(pid_files.rglob("pid")):
        assert time.monotonic() < deadline and supervisor.poll() is None, "the worker never started"
        time.sleep(0.05)
    worker = int(next(pid_files.rglob("pid")).read_text())
    supervisor.send_signal(signal.SIGKILL)
    supervisor.wait()
    deadline = time.monotonic() + 10
    while _alive(worker):
        assert time.monotonic() < deadline, "the orphaned worker kept running"
        time.sleep(0.1)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as stat:  # a zombie (exited, not yet reaped) counts as ended
        return stat.read().split()[2] != "Z"
