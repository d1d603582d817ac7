"""Job tasks on Ray actors: the same outcomes as local worker processes (a result, a lost actor retried from its
checkpoint, a cancel that kills the actor), on the session's local Ray instance; and the runner the settings pick."""

from __future__ import annotations

import threading
import time

import pytest

from headwater.config import Settings
from headwater.platform.jobs.records import JobStore, TaskSpec
from headwater.platform.jobs.workers import LocalWorkerRunner, WorkerRunner, worker_runner
from headwater.platform.store import Store

TASKS = "tests.platform.jobs.tasks"


@pytest.fixture
def ray_runner(ray_address, tmp_path):
    from headwater.platform.executors.ray import RayCluster
    from headwater.platform.jobs.ray_workers import RayWorkerRunner

    store = Store(f"sqlite:///{tmp_path / 'h.db'}")
    cluster = RayCluster(ray_address)
    yield RayWorkerRunner(JobStore(store), tmp_path / "work", cluster, num_cpus=0.5, poll_s=0.02, grace_s=5)
    store.engine.dispose()


def _job(runner: WorkerRunner, *tasks: TaskSpec):
    return runner.jobs.create("acme", "test", "none", {}, list(tasks))


@pytest.mark.ray
def test_a_noop_job_and_a_reporting_task_run_on_ray_actors(ray_runner):
    job = _job(
        ray_runner,
        TaskSpec("noop", "headwater.platform.jobs.builtin_tasks:noop", {}),
        TaskSpec("count", f"{TASKS}:count", {"numbers": [1, 2]}),
    )
    assert ray_runner.run(job.id).state == "succeeded"
    noop, count = ray_runner.jobs.tasks(job.id)
    assert (noop.result, count.result) == ({"attempt": 1}, {"sum": 3})
    assert [c.metrics for c in ray_runner.jobs.checkpoints(job.id)] == [{"loss": 0.5}]
    assert "counting" in [e.message for e in ray_runner.jobs.events(job.id)]


@pytest.mark.ray
def test_a_killed_actor_is_lost_and_its_task_retried_from_its_checkpoint(ray_runner):
    job = _job(ray_runner, TaskSpec("t", f"{TASKS}:die_until", {"deaths": 1}, max_attempts=2))
    ray_runner.jobs.add_checkpoint(job.id, 5, "/ckpt/5")
    assert ray_runner.run(job.id).state == "succeeded"
    [task] = ray_runner.jobs.tasks(job.id)
    assert (task.attempts, task.result) == (2, {"attempt": 2, "resumed_from": "/ckpt/5"})
    [warning] = [e for e in ray_runner.jobs.events(job.id) if e.level == "warning"]
    assert "worker was lost (exit code -9); retrying" in warning.message


@pytest.mark.ray
def test_cancel_kills_the_actor(ray_runner):
    from headwater.platform.executors.ray import LOST_EXIT_CODE

    workers = []
    launch = ray_runner._launch
    ray_runner._launch = lambda task, args: workers.append(launch(task, args)) or workers[-1]
    job = _job(ray_runner, TaskSpec("slow", f"{TASKS}:sleep", {"seconds": 60}))
    threading.Thread(target=_cancel_when_sleeping, args=(ray_runner.jobs, job.id), daemon=True).start()
    assert ray_runner.run(job.id).state == "cancelled"
    assert ray_runner.jobs.tasks(job.id)[0].state == "cancelled"
    [worker] = workers
    assert worker.join(10) == LOST_EXIT_CODE  # its `run` never returned: the actor was killed mid-task


def _cancel_when_sleeping(jobs: JobStore, job_id: str) -> None:
    while "sleeping" not in [e.message for e in jobs.events(job_id)]:
        time.sleep(0.02)
    jobs.request_cancel(job_id, "acme", "test")


@pytest.mark.ray
def test_a_task_the_local_instance_can_never_hold_fails_the_job_at_once(ray_runner):
    from headwater.platform.executors.ray import RayCluster

    ray_runner.cluster = RayCluster(None)  # the gateway's own local instance (here: the session's), which never grows
    ray_runner.num_gpus = 64
    job = _job(ray_runner, TaskSpec("noop", "headwater.platform.jobs.builtin_tasks:noop", {}))
    done = ray_runner.run(job.id)
    assert done.state == "failed" and "num_gpus=64" in done.error and "HEADWATER_TASK_NUM_GPUS" in done.error


def test_the_settings_pick_the_runner(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'h.db'}")
    jobs = JobStore(store)
    assert type(worker_runner(Settings(data_dir=tmp_path), jobs, tmp_path)) is LocalWorkerRunner
    pytest.importorskip("ray")
    from headwater.platform.jobs.ray_workers import RayWorkerRunner

    settings = Settings(data_dir=tmp_path, executor="ray", task_num_cpus=2, task_num_gpus=1)
    runner = worker_runner(settings, jobs, tmp_path)
    assert isinstance(runner, RayWorkerRunner) and (runner.num_cpus, runner.num_gpus) == (2, 1)
    store.engine.dispose()
