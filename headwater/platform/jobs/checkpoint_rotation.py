"""Checkpoint rotation: a long training job at a short HEADWATER_CHECKPOINT_INTERVAL_S would fill the disk, so only the
last `kept` Trainer checkpoints of a job stay there (HEADWATER_CHECKPOINTS_KEPT, default 3; 0 keeps all).

Run by the supervisor each time a checkpoint is recorded, never by the worker: a folder is deleted only once a newer
checkpoint is in the store, so the one a resume would use is always on disk. Only Trainer checkpoints count and are
deleted: a `checkpoint-<step>` folder inside the job's work folder (what `train_checkpoints` reports). The final model
a train task records last is none, and is never deleted. A deleted checkpoint stays in the job's list (its metrics are
history) with its `deleted_at`; the runner never resumes from it.
"""

from __future__ import annotations

import logging
import re
import shutil
from pathlib import Path

from headwater.platform.jobs.records import Checkpoint, JobStore

logger = logging.getLogger(__name__)

DEFAULT_CHECKPOINTS_KEPT = 3
"""Trainer checkpoints of a job kept on disk when the settings do not say (HEADWATER_CHECKPOINTS_KEPT's default)."""
_TRAINER_FOLDER = re.compile(r"^checkpoint-\d+$")


def is_trainer_checkpoint(path: str, job_folder: Path) -> bool:
    """Whether `path` is a Trainer checkpoint folder inside the job's work folder (so rotation may delete it)."""
    folder = Path(path)
    return bool(_TRAINER_FOLDER.match(folder.name)) and folder.resolve().is_relative_to(job_folder.resolve())


def stale_checkpoints(checkpoints: list[Checkpoint], job_folder: Path, kept: int) -> list[Checkpoint]:
    """The recorded Trainer checkpoints to delete: all but the last `kept` (none with `kept` 0), and any whose folder
    is already gone (a Trainer's own `save_total_limit`); a folder a kept checkpoint also uses is never among them."""
    trainer = [c for c in checkpoints if is_trainer_checkpoint(c.path, job_folder)]
    keep = trainer[-kept:] if kept > 0 else trainer
    kept_ids, kept_paths = {c.id for c in keep}, {c.path for c in keep}
    older = [c for c in trainer if c.id not in kept_ids and c.path not in kept_paths]
    gone = [c for c in keep if c.deleted_at is None and not Path(c.path).exists()]
    return older + gone


def rotate_checkpoints(jobs: JobStore, job_id: str, job_folder: Path, kept: int) -> list[int]:
    """Delete the job's stale Trainer checkpoints (`stale_checkpoints`): recorded as deleted first, with an event,
    then removed from disk (a folder left by a platform killed in between is removed at the next rotation). Returns
    the steps newly recorded as deleted."""
    stale = stale_checkpoints(jobs.checkpoints(job_id), job_folder, kept)
    fresh = [c for c in stale if c.deleted_at is None]
    if fresh:
        steps = ", ".join(str(c.step) for c in fresh)
        why = f"the last {kept} are kept (HEADWATER_CHECKPOINTS_KEPT)" if kept else "their folders are gone"
        jobs.mark_checkpoints_deleted(job_id, [c.id for c in fresh], f"deleted the checkpoints of steps {steps}: {why}")
    for checkpoint in stale:
        folder = Path(checkpoint.path)
        if folder.exists():
            shutil.rmtree(folder, ignore_errors=True)
            logger.info("job %s: deleted checkpoint folder %s", job_id, folder)
    return [c.step for c in fresh]
