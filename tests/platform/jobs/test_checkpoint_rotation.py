"""Checkpoint rotation: a job keeps only its last HEADWATER_CHECKPOINTS_KEPT Trainer checkpoints on disk, deleting
older ones once a newer one is recorded; every checkpoint stays listed (the deleted ones with `deleted_at`), the final
model and anything outside the job's folder are never deleted, and a retry never resumes from a deleted one."""

from __future__ import annotations

from pathlib import Path

import pytest

from headwater.config import Settings
from headwater.platform.jobs.checkpoint_rotation import rotate_checkpoints, stale_checkpoints
from headwater.platform.jobs.records import JobStore, TaskSpec
from headwater.platform.jobs.workers import LocalWorkerRunner, worker_runner
from headwater.platform.store import Store

TASKS = "tests.platform.jobs.tasks"


@pytest.fixture
def jobs(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'h.db'}")
    yield JobStore(store)
    store.engine.dispose()


def _run(jobs: JobStore, workdir: Path, kept: int, steps: int) -> str:
    job = jobs.create(
        "acme", "finetune", "tiny", {}, [TaskSpec("train", f"{TASKS}:trainer_checkpoints", {"steps": steps})]
    )
    runner = LocalWorkerRunner(jobs, workdir, poll_s=0.02, grace_s=2, checkpoints_kept=kept)
    assert runner.run(job.id).state == "succeeded"
    return job.id


def test_only_the_last_checkpoints_stay_on_disk_and_all_stay_listed(jobs, tmp_path):
    job_id = _run(jobs, tmp_path / "work", kept=2, steps=5)
    folder = tmp_path / "work" / job_id / "train"
    assert sorted(p.name for p in folder.iterdir()) == ["checkpoint-4", "checkpoint-5", "final"]
    listed = jobs.checkpoints(job_id)
    assert [(Path(c.path).name, c.deleted_at is not None) for c in listed] == [
        ("checkpoint-1", True),
        ("checkpoint-2", True),
        ("checkpoint-3", True),
        ("checkpoint-4", False),
        ("checkpoint-5", False),
        ("final", False),  # the final model is never deleted, nor counted among the Trainer checkpoints
    ]
    assert listed[0].metrics == {"train_loss": 1.0}  # a deleted checkpoint keeps its metrics: history
    messages = [e.message for e in jobs.events(job_id)]
    assert "deleted the checkpoints of steps 1: the last 2 are kept (HEADWATER_CHECKPOINTS_KEPT)" in messages


def test_zero_keeps_every_checkpoint(jobs, tmp_path):
    job = jobs.create("acme", "finetune", "tiny", {})
    folder = tmp_path / "work" / job.id / "train"
    for step in range(1, 5):
        (folder / f"checkpoint-{step}").mkdir(parents=True)
        jobs.add_checkpoint(job.id, step, str(folder / f"checkpoint-{step}"))
        assert rotate_checkpoints(jobs, job.id, tmp_path / "work" / job.id, kept=0) == []
    assert len(list(folder.glob("checkpoint-*"))) == 4
    assert all(c.deleted_at is None for c in jobs.checkpoints(job.id))


def test_a_retry_never_resumes_from_a_deleted_checkpoint(jobs, tmp_path):
    job = jobs.create("acme", "test", "none", {}, [TaskSpec("t", f"{TASKS}:die_until", {"deaths": 0})])
    jobs.add_checkpoint(job.id, 5, "/ckpt/5")
    jobs.add_checkpoint(job.id, 6, "/ckpt/6")
    [_, last] = jobs.checkpoints(job.id)
    jobs.mark_checkpoints_deleted(job.id, [last.id], "gone")
    assert LocalWorkerRunner(jobs, tmp_path / "work", poll_s=0.02).run(job.id).state == "succeeded"
    assert jobs.tasks(job.id)[0].result["resumed_from"] == "/ckpt/5"


def test_rotation_leaves_other_folders_and_marks_vanished_ones(jobs, tmp_path):
    job = jobs.create("acme", "finetune", "tiny", {})
    job_folder = tmp_path / "work" / job.id
    outside = tmp_path / "elsewhere" / "checkpoint-1"  # a checkpoint-like folder outside the job's own
    outside.mkdir(parents=True)
    jobs.add_checkpoint(job.id, 1, str(outside))
    inside = []
    for step in (2, 3, 4):
        inside.append(job_folder / "train" / f"checkpoint-{step}")
        inside[-1].mkdir(parents=True)
        jobs.add_checkpoint(job.id, step, str(inside[-1]))
    inside[-1].rename(job_folder / "train" / "moved")  # the last one vanished (a Trainer's own save_total_limit)
    assert rotate_checkpoints(jobs, job.id, job_folder, kept=2) == [2, 4]
    assert outside.is_dir() and not inside[0].exists() and inside[1].is_dir()
    assert [c.deleted_at is not None for c in jobs.checkpoints(job.id)] == [False, True, False, True]
    assert rotate_checkpoints(jobs, job.id, job_folder, kept=2) == []  # already recorded: no second event


def test_a_folder_a_kept_checkpoint_reuses_is_not_deleted(jobs, tmp_path):
    job = jobs.create("acme", "finetune", "tiny", {})
    job_folder = tmp_path / "work" / job.id
    again = job_folder / "train" / "checkpoint-2"  # a restarted stage saved step 2 again, into the same folder
    again.mkdir(parents=True)
    for step in (2, 3, 2):
        jobs.add_checkpoint(job.id, step, str(job_folder / "train" / f"checkpoint-{step}"))
    (job_folder / "train" / "checkpoint-3").mkdir()
    assert [c.step for c in stale_checkpoints(jobs.checkpoints(job.id), job_folder, kept=1)] == [3]


def test_the_setting_reaches_the_runner(jobs, tmp_path, monkeypatch):
    monkeypatch.setenv("HEADWATER_CHECKPOINTS_KEPT", "1")
    assert worker_runner(Settings(data_dir=tmp_path), jobs, tmp_path).checkpoints_kept == 1
    assert worker_runner(Settings(data_dir=tmp_path, checkpoints_kept=0), jobs, tmp_path).checkpoints_kept == 0
