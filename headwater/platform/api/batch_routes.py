"""OpenAI's batch API: POST /v1/batches, list, retrieve, cancel. A batch runs each line of its input file through
/v1/chat/completions or /v1/completions at low priority (see `headwater.platform.jobs.batches`)."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Depends, Query, Request

from headwater.platform.api.file_routes import idempotency_key
from headwater.platform.api.job_schemas import BatchList, BatchObject, BatchRequest
from headwater.platform.api.responses import cursor_list, error_responses
from headwater.platform.auth import authenticate
from headwater.platform.jobs.batches import BatchRunner, batch_object
from headwater.platform.jobs.records import JobRecord
from headwater.platform.state import gateway_of

router = APIRouter(prefix="/v1")


def _runner(request: Request) -> BatchRunner:
    return gateway_of(request).jobs.batches


def _object(runner: BatchRunner, job: JobRecord) -> dict[str, object]:
    return batch_object(job, runner.counts(job.id))


@router.post(
    "/batches", response_model=None, responses={200: {"model": BatchObject}, **error_responses(400, 401, 404, 409)}
)
async def create_batch(body: BatchRequest, request: Request, tenant: str = Depends(authenticate)) -> dict[str, object]:
    runner = _runner(request)
    job = await asyncio.to_thread(runner.create, tenant, body.model_dump(), idempotency_key(request))
    if job.state == "queued":
        runner.submit(job.id)
    return await asyncio.to_thread(_object, runner, job)


@router.get("/batches", response_model=None, responses={200: {"model": BatchList}, **error_responses(400, 401, 404)})
async def list_batches(
    request: Request,
    tenant: str = Depends(authenticate),
    limit: int = Query(20, ge=1, le=100),
    after: str | None = None,
) -> dict[str, object]:
    runner = _runner(request)

    def page() -> tuple[list[dict[str, object]], bool]:
        jobs = runner.jobs.list_jobs(tenant, "batch", limit + 1, after)
        return [_object(runner, job) for job in jobs[:limit]], len(jobs) > limit

    data, more = await asyncio.to_thread(page)
    return cursor_list(data, more)


@router.get(
    "/batches/{batch_id}", response_model=None, responses={200: {"model": BatchObject}, **error_responses(401, 404)}
)
async def retrieve_batch(batch_id: str, request: Request, tenant: str = Depends(authenticate)) -> dict[str, object]:
    runner = _runner(request)
    job = await asyncio.to_thread(runner.jobs.get, batch_id, tenant, "batch")
    return await asyncio.to_thread(_object, runner, job)


@router.post(
    "/batches/{batch_id}/cancel",
    response_model=None,
    responses={200: {"model": BatchObject}, **error_responses(401, 404)},
)
async def cancel_batch(batch_id: str, request: Request, tenant: str = Depends(authenticate)) -> dict[str, object]:
    runner = _runner(request)
    job = await asyncio.to_thread(runner.jobs.request_cancel, batch_id, tenant, "batch")
    return await asyncio.to_thread(_object, runner, job)
