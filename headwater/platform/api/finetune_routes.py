"""OpenAI's fine-tuning API: POST /v1/fine_tuning/jobs, list, retrieve, cancel, events, checkpoints (see
`headwater.platform.jobs.finetune`). Another tenant's job id is a 404, like one that never existed."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence

from fastapi import APIRouter, Depends, Query, Request

from headwater.errors import InvalidRequestError
from headwater.platform.api.file_routes import idempotency_key
from headwater.platform.api.job_schemas import (
    FineTuneCheckpointList,
    FineTuneEventList,
    FineTuneJob,
    FineTuneJobList,
    FineTuneRequest,
)
from headwater.platform.api.responses import cursor_list, error_responses
from headwater.platform.auth import authenticate
from headwater.platform.jobs.finetune import FineTuneService, finetune_object
from headwater.platform.state import gateway_of

router = APIRouter(prefix="/v1/fine_tuning")


def _service(request: Request) -> FineTuneService:
    return gateway_of(request).jobs.finetune


@router.post(
    "/jobs", response_model=None, responses={200: {"model": FineTuneJob}, **error_responses(400, 401, 404, 409)}
)
async def create_job(body: FineTuneRequest, request: Request, tenant: str = Depends(authenticate)) -> dict[str, object]:
    service = _service(request)
    fields = body.model_dump(exclude_none=True)
    job = await asyncio.to_thread(service.create, tenant, fields, idempotency_key(request))
    if job.state == "queued":
        service.submit(job.id)
    return finetune_object(job)


@router.get("/jobs", response_model=None, responses={200: {"model": FineTuneJobList}, **error_responses(401, 404)})
async def list_jobs(
    request: Request,
    tenant: str = Depends(authenticate),
    limit: int = Query(20, ge=1, le=100),
    after: str | None = None,
) -> dict[str, object]:
    jobs = await asyncio.to_thread(_service(request).jobs.list_jobs, tenant, "finetune", limit + 1, after)
    return {"object": "list", "data": [finetune_object(job) for job in jobs[:limit]], "has_more": len(jobs) > limit}


@router.get("/jobs/{job_id}", response_model=None, responses={200: {"model": FineTuneJob}, **error_responses(401, 404)})
async def retrieve_job(job_id: str, request: Request, tenant: str = Depends(authenticate)) -> dict[str, object]:
    return finetune_object(await asyncio.to_thread(_service(request).jobs.get, job_id, tenant, "finetune"))


@router.post(
    "/jobs/{job_id}/cancel", response_model=None, responses={200: {"model": FineTuneJob}, **error_responses(401, 404)}
)
async def cancel_job(job_id: str, request: Request, tenant: str = Depends(authenticate)) -> dict[str, object]:
    jobs = _service(request).jobs
    return finetune_object(await asyncio.to_thread(jobs.request_cancel, job_id, tenant, "finetune"))


@router.get(
    "/jobs/{job_id}/events",
    response_model=None,
    responses={200: {"model": FineTuneEventList}, **error_responses(400, 401, 404)},
)
async def list_events(
    job_id: str,
    request: Request,
    tenant: str = Depends(authenticate),
    after: str | None = Query(None, description="The id of the last event of the previous page (`ftevent-…`)."),
    limit: int = Query(20, ge=1, le=1000),
) -> dict[str, object]:
    """Newest first, as OpenAI lists them; a page starts after the `after` event."""
    jobs = _service(request).jobs
    await asyncio.to_thread(jobs.get, job_id, tenant, "finetune")
    events = await asyncio.to_thread(jobs.events, job_id, None, 100_000)
    data = [
        {
            "id": f"ftevent-{event.id}",
            "object": "fine_tuning.job.event",
            "created_at": int(event.created_at.timestamp()),
            "level": event.level,
            "message": event.message,
            "data": event.data,
            "type": "metrics" if "train_loss" in event.data else "message",
        }
        for event in reversed(events)
    ]
    return _page(data, after, limit)


@router.get(
    "/jobs/{job_id}/checkpoints",
    response_model=None,
    responses={200: {"model": FineTuneCheckpointList}, **error_responses(400, 401, 404)},
)
async def list_checkpoints(
    job_id: str,
    request: Request,
    tenant: str = Depends(authenticate),
    after: str | None = Query(None, description="The id of the last checkpoint of the previous page (`ftckpt-…`)."),
    limit: int = Query(10, ge=1, le=100),
) -> dict[str, object]:
    """Newest first, as OpenAI lists them; a page starts after the `after` checkpoint."""
    jobs = _service(request).jobs
    job = await asyncio.to_thread(jobs.get, job_id, tenant, "finetune")
    checkpoints = await asyncio.to_thread(jobs.checkpoints, job_id)
    name = job.result.get("fine_tuned_model") or job.model
    data = [
        {
            "id": f"ftckpt-{checkpoint.id}",
            "object": "fine_tuning.job.checkpoint",
            "created_at": int(checkpoint.created_at.timestamp()),
            "fine_tuned_model_checkpoint": f"{name}:ckpt-step-{checkpoint.step}",
            "fine_tuning_job_id": job_id,
            "metrics": {"step": float(checkpoint.step), **checkpoint.metrics},
            "step_number": checkpoint.step,
            "deleted_at": int(checkpoint.deleted_at.timestamp()) if checkpoint.deleted_at is not None else None,
        }
        for checkpoint in reversed(checkpoints)
    ]
    return _page(data, after, limit)


def _page(data: Sequence[Mapping[str, object]], after: str | None, limit: int) -> dict[str, object]:
    """The `limit` items after the one whose id is `after` (from the start without it), in OpenAI's list shape.
    A job's events and checkpoints are few enough to page in memory."""
    start = 0
    if after is not None:
        ids = [item["id"] for item in data]
        if after not in ids:
            raise InvalidRequestError(
                f"after: {after!r} is not an id in this list; pass the last id of the page before", param="after"
            )
        start = ids.index(after) + 1
    return cursor_list(data[start : start + limit], start + limit < len(data))
