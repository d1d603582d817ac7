"""Every long job a tenant owns, whatever its kind (fine-tuning, batch, …): `GET /v1/jobs` (filtered by kind and
state, paged like OpenAI's lists), `GET /v1/jobs/{id}`, `POST /v1/jobs/{id}/cancel` and `GET /v1/jobs/{id}/events`
(oldest first; `after=<last id>` follows the log). Each kind keeps its own OpenAI-shaped routes; these are the one
view over all of them that `headwater jobs` and a dashboard need. Another tenant's job is a 404, like one that
never existed."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request

from headwater.platform.api.job_schemas import JobEventList, JobList, JobObject
from headwater.platform.api.responses import cursor_list, error_responses
from headwater.platform.auth import authenticate
from headwater.platform.jobs.records import JobEvent, JobRecord, JobStore
from headwater.platform.state import gateway_of

router = APIRouter(prefix="/v1")
State = Literal["queued", "running", "succeeded", "failed", "cancelled"]


def _jobs(request: Request) -> JobStore:
    return gateway_of(request).jobs.records


def _ts(moment: datetime | None) -> int | None:
    return int(moment.timestamp()) if moment is not None else None


def job_object(job: JobRecord) -> dict[str, object]:
    """The job as `/v1/jobs` shows it (the `JobObject` shape)."""
    return {
        "id": job.id,
        "object": "job",
        "kind": job.kind,
        "model": job.model,
        "state": job.state,
        "progress": job.progress,
        "params": job.params,
        "result": job.result,
        "error": job.error,
        "files": job.files,
        "created_at": _ts(job.created_at),
        "started_at": _ts(job.started_at),
        "finished_at": _ts(job.finished_at),
        "cancel_requested_at": _ts(job.cancel_requested_at),
    }


def event_object(event: JobEvent) -> dict[str, object]:
    """One event as `/v1/jobs/{id}/events` shows it (the `JobEventObject` shape)."""
    return {
        "id": event.id,
        "object": "job.event",
        "created_at": _ts(event.created_at),
        "level": event.level,
        "message": event.message,
        "data": event.data,
    }


@router.get("/jobs", response_model=None, responses={200: {"model": JobList}, **error_responses(400, 401, 404)})
async def list_jobs(
    request: Request,
    tenant: str = Depends(authenticate),
    kind: str | None = Query(None, max_length=32, description="Only jobs of this kind: finetune, batch, …"),
    state: Annotated[State | None, Query(description="Only jobs in this state.")] = None,
    limit: int = Query(20, ge=1, le=100),
    after: str | None = Query(None, description="The last id of the previous page."),
) -> dict[str, object]:
    """The tenant's jobs, newest first."""
    jobs = await asyncio.to_thread(_jobs(request).list_jobs, tenant, kind, limit + 1, after, state)
    return cursor_list([job_object(job) for job in jobs[:limit]], len(jobs) > limit)


@router.get("/jobs/{job_id}", response_model=None, responses={200: {"model": JobObject}, **error_responses(401, 404)})
async def retrieve_job(job_id: str, request: Request, tenant: str = Depends(authenticate)) -> dict[str, object]:
    return job_object(await asyncio.to_thread(_jobs(request).get, job_id, tenant))


@router.post(
    "/jobs/{job_id}/cancel", response_model=None, responses={200: {"model": JobObject}, **error_responses(401, 404)}
)
async def cancel_job(job_id: str, request: Request, tenant: str = Depends(authenticate)) -> dict[str, object]:
    """A queued job is cancelled at once; a running one's worker is stopped within seconds, its checkpoints kept."""
    return job_object(await asyncio.to_thread(_jobs(request).request_cancel, job_id, tenant, None))


@router.get(
    "/jobs/{job_id}/events",
    response_model=None,
    responses={200: {"model": JobEventList}, **error_responses(400, 401, 404)},
)
async def list_events(
    job_id: str,
    request: Request,
    tenant: str = Depends(authenticate),
    after: int | None = Query(None, ge=0, description="Only events after this event id (to follow the log)."),
    limit: int = Query(100, ge=1, le=1000),
) -> dict[str, object]:
    """The job's events, oldest first."""
    jobs = _jobs(request)
    await asyncio.to_thread(jobs.get, job_id, tenant)
    events = await asyncio.to_thread(jobs.events, job_id, after, limit + 1)
    return cursor_list([event_object(event) for event in events[:limit]], len(events) > limit)
