"""Response shapes of the files and batches routes (OpenAI's), for the OpenAPI document; the handlers build
plain dicts (see `headwater.platform.files.file_object` and `headwater.platform.jobs.batches.batch_object`)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, JsonValue


class BatchRequest(BaseModel):
    """POST /v1/batches."""

    input_file_id: str
    endpoint: str
    completion_window: str = "24h"
    metadata: dict[str, str] | None = None


class FileObject(BaseModel):
    id: str
    object: Literal["file"]
    bytes: int
    created_at: int
    filename: str
    purpose: str
    status: str
    status_details: str | None = None
    expires_at: int | None = None


class FileList(BaseModel):
    object: Literal["list"]
    data: list[FileObject]
    first_id: str | None = None
    last_id: str | None = None
    has_more: bool


class FileDeleted(BaseModel):
    id: str
    object: Literal["file"]
    deleted: bool


class BatchRequestCounts(BaseModel):
    total: int
    completed: int
    failed: int


class BatchError(BaseModel):
    code: str | None = None
    message: str | None = None
    param: str | None = None
    line: int | None = None


class BatchErrors(BaseModel):
    object: Literal["list"]
    data: list[BatchError]


class BatchObject(BaseModel):
    id: str
    object: Literal["batch"]
    endpoint: str
    errors: BatchErrors | None = None
    input_file_id: str
    completion_window: str
    status: Literal[
        "validating", "failed", "in_progress", "finalizing", "completed", "expired", "cancelling", "cancelled"
    ]
    output_file_id: str | None = None
    error_file_id: str | None = None
    created_at: int
    in_progress_at: int | None = None
    expires_at: int | None = None
    finalizing_at: int | None = None
    completed_at: int | None = None
    failed_at: int | None = None
    expired_at: int | None = None
    cancelling_at: int | None = None
    cancelled_at: int | None = None
    request_counts: BatchRequestCounts
    metadata: dict[str, str] | None = None


class BatchList(BaseModel):
    object: Literal["list"]
    data: list[BatchObject]
    first_id: str | None = None
    last_id: str | None = None
    has_more: bool


class FineTuneRequest(BaseModel):
    """POST /v1/fine_tuning/jobs (the method and its hyperparameters are checked by the service, naming the field)."""

    model: str
    training_file: str
    validation_file: str | None = None
    suffix: str | None = None
    seed: int | None = None
    method: dict[str, object] | None = None
    hyperparameters: dict[str, object] | None = None


class FineTuneJob(BaseModel):
    id: str
    object: Literal["fine_tuning.job"]
    created_at: int
    error: dict[str, str | None] | None = None
    fine_tuned_model: str | None = None
    finished_at: int | None = None
    hyperparameters: dict[str, JsonValue]
    model: str
    organization_id: str
    result_files: list[str]
    seed: int
    status: Literal["validating_files", "queued", "running", "succeeded", "failed", "cancelled"]
    trained_tokens: int | None = None
    training_file: str
    validation_file: str | None = None
    suffix: str | None = None
    method: dict[str, JsonValue]


class FineTuneJobList(BaseModel):
    object: Literal["list"]
    data: list[FineTuneJob]
    has_more: bool


class FineTuneEvent(BaseModel):
    id: str
    object: Literal["fine_tuning.job.event"]
    created_at: int
    level: str
    message: str
    data: dict[str, JsonValue] | None = None
    type: str


class FineTuneEventList(BaseModel):
    object: Literal["list"]
    data: list[FineTuneEvent]
    first_id: str | None
    last_id: str | None
    has_more: bool


class FineTuneCheckpoint(BaseModel):
    id: str
    object: Literal["fine_tuning.job.checkpoint"]
    created_at: int
    fine_tuned_model_checkpoint: str
    fine_tuning_job_id: str
    metrics: dict[str, float]
    step_number: int
    deleted_at: int | None = Field(
        None,
        description="Headwater: when rotation (HEADWATER_CHECKPOINTS_KEPT) deleted the checkpoint's folder; it stays "
        "listed but is never resumed. Null while it is on disk.",
    )


class FineTuneCheckpointList(BaseModel):
    object: Literal["list"]
    data: list[FineTuneCheckpoint]
    first_id: str | None
    last_id: str | None
    has_more: bool


class JobObject(BaseModel):
    """A job of any kind (`GET /v1/jobs/{id}`): what every long job has, whatever its kind's own API shows."""

    id: str
    object: Literal["job"]
    kind: str
    model: str
    state: Literal["queued", "running", "succeeded", "failed", "cancelled"]
    progress: float
    params: dict[str, JsonValue]
    result: dict[str, JsonValue]
    error: str | None = None
    files: dict[str, str]
    created_at: int
    started_at: int | None = None
    finished_at: int | None = None
    cancel_requested_at: int | None = None


class JobList(BaseModel):
    object: Literal["list"]
    data: list[JobObject]
    first_id: str | None = None
    last_id: str | None = None
    has_more: bool


class JobEventObject(BaseModel):
    """One line of a job's log; `id` grows, so `after=<last id>` follows the log."""

    id: int
    object: Literal["job.event"]
    created_at: int
    level: str
    message: str
    data: dict[str, JsonValue]


class JobEventList(BaseModel):
    object: Literal["list"]
    data: list[JobEventObject]
    first_id: int | None = None
    last_id: int | None = None
    has_more: bool
