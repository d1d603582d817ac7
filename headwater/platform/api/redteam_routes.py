"""Red-teaming runs on the platform (`headwater.platform.jobs.redteam`): create, list, retrieve, cancel, resume,
events, and the review queue of the outputs the oracle flagged. Another tenant's run id is a 404, as is one that
never existed."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from headwater.platform.api.file_routes import idempotency_key
from headwater.platform.api.responses import error_responses
from headwater.platform.auth import authenticate
from headwater.platform.jobs.records import JobRecord
from headwater.platform.jobs.redteam import KIND, RedteamService
from headwater.platform.jobs.redteam_request import RedteamRunRequest
from headwater.platform.state import gateway_of
from headwater.safety.astral.review import LABELS

router = APIRouter(prefix="/v1/redteam")
ITEM_FIELDS = ("id", "category", "style", "technique", "prompt", "output", "outcome", "reason")


class ResumeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    target_api_key: str | None = Field(None, description="The external target's key again (never stored).")


class VerdictRequest(BaseModel):
    """A reviewer's decision on one result: `label` safe or unsafe, or `skip` to put it aside."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(description="The result's id (a test id of the run).")
    label: str | None = Field(None, description=f"One of {', '.join(LABELS)}.")
    skip: bool = Field(False, description="Put the item aside instead of labelling it.")
    note: str = Field("", max_length=2000, description="Why, for the record.")


def _service(request: Request) -> RedteamService:
    return gateway_of(request).jobs.safety.redteam


def run_object(service: RedteamService, job: JobRecord) -> dict[str, object]:
    """The run as the API shows it: its stages (tasks), progress, result summary and result files."""
    stages = [
        {"name": t.name, "status": t.state, "attempts": t.attempts, "result": t.result, "error": t.error}
        for t in service.jobs.tasks(job.id)
    ]
    params = job.params
    return {
        "id": job.id,
        "object": "redteam.run",
        "status": job.state,
        "target": params["target"],
        "generator": params["generator"],
        "oracle": params["oracle"],
        "created_at": int(job.created_at.timestamp()),
        "finished_at": int(job.finished_at.timestamp()) if job.finished_at else None,
        "progress": job.progress,
        "params": params,
        "stages": stages,
        "result": job.result,
        "result_files": job.files,
        "error": job.error,
    }


async def _object(service: RedteamService, job: JobRecord) -> dict[str, object]:
    return await asyncio.to_thread(run_object, service, job)


@router.post("/runs", responses=error_responses(400, 401, 404, 409))
async def create_run(body: RedteamRunRequest, request: Request, tenant: str = Depends(authenticate)) -> dict:
    """Plan → generate → run (target + oracle) → report, as one job; the reports become result files."""
    service = _service(request)
    job = await asyncio.to_thread(service.create, tenant, body, idempotency_key(request))
    if job.state == "queued":
        service.submit(job.id)
    return await _object(service, job)


@router.get("/runs", responses=error_responses(401, 404))
async def list_runs(
    request: Request,
    tenant: str = Depends(authenticate),
    limit: int = Query(20, ge=1, le=100),
    after: str | None = None,
) -> dict:
    """The tenant's runs, newest first."""
    service = _service(request)
    jobs = await asyncio.to_thread(service.jobs.list_jobs, tenant, KIND, limit + 1, after)
    data = [await _object(service, job) for job in jobs[:limit]]
    return {"object": "list", "data": data, "has_more": len(jobs) > limit}


@router.get("/runs/{run_id}", responses=error_responses(401, 404))
async def retrieve_run(run_id: str, request: Request, tenant: str = Depends(authenticate)) -> dict:
    service = _service(request)
    return await _object(service, await asyncio.to_thread(service.jobs.get, run_id, tenant, KIND))


@router.post("/runs/{run_id}/cancel", responses=error_responses(401, 404))
async def cancel_run(run_id: str, request: Request, tenant: str = Depends(authenticate)) -> dict:
    """Stop the run after its batch in flight; its finished tests stay in its folder."""
    service = _service(request)
    return await _object(service, await asyncio.to_thread(service.jobs.request_cancel, run_id, tenant, KIND))


@router.post("/runs/{run_id}/resume", responses=error_responses(400, 401, 404, 409))
async def resume_run(run_id: str, body: ResumeRequest, request: Request, tenant: str = Depends(authenticate)) -> dict:
    """Run again a queued run a restart left waiting for its external target's key."""
    service = _service(request)
    job = await asyncio.to_thread(service.jobs.get, run_id, tenant, KIND)
    service.resume(job.id, tenant, body.target_api_key)
    return await _object(service, job)


@router.get("/runs/{run_id}/events", responses=error_responses(401, 404))
async def list_events(
    run_id: str,
    request: Request,
    tenant: str = Depends(authenticate),
    after: int | None = None,
    limit: int = Query(100, ge=1, le=1000),
) -> dict:
    """The run's events, oldest first, after the event id `after`."""
    jobs = _service(request).jobs
    await asyncio.to_thread(jobs.get, run_id, tenant, KIND)
    events = await asyncio.to_thread(jobs.events, run_id, after, limit)
    data = [
        {"id": e.id, "created_at": int(e.created_at.timestamp()), "level": e.level, "message": e.message}
        for e in events
    ]
    return {"object": "list", "data": data}


@router.get("/runs/{run_id}/review", responses=error_responses(401, 404, 409))
async def review_queue(
    run_id: str,
    request: Request,
    tenant: str = Depends(authenticate),
    status: str = Query("open", pattern="^(open|all)$", description="open: pending and skipped; all: labelled too"),
) -> dict:
    """The outputs the oracle flagged (unsafe or unknown), pending first, with the queue's counts."""
    service = _service(request)
    _job, queue = await asyncio.to_thread(service.queue, run_id, tenant)
    items = await asyncio.to_thread(queue.items)
    data = [
        {**{key: item.result.get(key) for key in ITEM_FIELDS}, "label": item.label, "status": item.status}
        for item in items
        if status == "all" or item.status != "labelled"
    ]
    return {"object": "list", "data": data, "counts": await asyncio.to_thread(queue.counts)}


@router.post("/runs/{run_id}/review", responses=error_responses(400, 401, 404, 409))
async def post_verdict(
    run_id: str, body: VerdictRequest, request: Request, tenant: str = Depends(authenticate)
) -> dict:
    """Label one result (or skip it); the run's report files are rebuilt with the label counted."""
    if body.skip == (body.label is not None):
        from headwater.errors import InvalidRequestError

        raise InvalidRequestError("give a label (safe or unsafe) or skip: true, not both nor neither", param="label")
    service = _service(request)
    counts = await asyncio.to_thread(service.verdict, run_id, tenant, body.id, body.label, body.note)
    return {"id": body.id, "label": body.label, "status": "skipped" if body.skip else "labelled", "counts": counts}
