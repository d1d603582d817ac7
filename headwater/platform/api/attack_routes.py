"""`POST /v1/attacks`: Virus against the platform's own guard as a job (admin keys only: 403 otherwise), the
harness table as its result; list and retrieve (`headwater.platform.jobs.attacks`)."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Depends, Query, Request

from headwater.platform.api.file_routes import idempotency_key
from headwater.platform.api.responses import error_responses
from headwater.platform.auth import authenticate_admin
from headwater.platform.jobs.attacks import KIND, AttackRequest, AttackService, attack_object
from headwater.platform.state import gateway_of

router = APIRouter(prefix="/v1")


def _service(request: Request) -> AttackService:
    return gateway_of(request).jobs.safety.attacks


@router.post("/attacks", responses=error_responses(400, 401, 403, 404))
async def create_attack(body: AttackRequest, request: Request, tenant: str = Depends(authenticate_admin)) -> dict:
    """Virus against the guard (default: HEADWATER_MODERATION_GUARD) on the uploaded pairs, and the harness."""
    service = _service(request)
    job = await asyncio.to_thread(service.create, tenant, body, idempotency_key(request))
    if job.state == "queued":
        service.submit(job.id)
    return attack_object(job)


@router.get("/attacks", responses=error_responses(401, 403))
async def list_attacks(
    request: Request, tenant: str = Depends(authenticate_admin), limit: int = Query(20, ge=1, le=100)
) -> dict:
    jobs = await asyncio.to_thread(_service(request).jobs.list_jobs, tenant, KIND, limit)
    return {"object": "list", "data": [attack_object(job) for job in jobs]}


@router.get("/attacks/{attack_id}", responses=error_responses(401, 403, 404))
async def retrieve_attack(attack_id: str, request: Request, tenant: str = Depends(authenticate_admin)) -> dict:
    return attack_object(await asyncio.to_thread(_service(request).jobs.get, attack_id, tenant, KIND))
