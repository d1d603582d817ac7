"""GET /v1/footprint: the caller's served requests' impacts, per model and day; POST /v1/footprint/reports: a
portfolio's yearly impacts and 2030 scenarios as an HTML report, made by a `footprint` job."""

from __future__ import annotations

import asyncio
import re
from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from headwater.errors import InvalidRequestError
from headwater.platform.api.file_routes import idempotency_key
from headwater.platform.api.job_routes import job_object
from headwater.platform.api.responses import error_responses
from headwater.platform.auth import ADMIN_TENANT, authenticate
from headwater.platform.state import gateway_of
from headwater.platform.store import FOOTPRINT_CRITERIA

router = APIRouter(prefix="/v1")
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _day(value: str | None, name: str) -> str | None:
    if value is not None and not _DAY.match(value):
        raise InvalidRequestError(f"{name} must be a date as YYYY-MM-DD, got {value!r}", param=name)
    return value


@router.get("/footprint", responses=error_responses(400, 401))
async def footprint(
    request: Request,
    tenant: str = Depends(authenticate),
    since: str | None = Query(None, description="First day included, YYYY-MM-DD."),
    until: str | None = Query(None, description="Last day included, YYYY-MM-DD."),
    model: str | None = Query(None, description="Only this model."),
) -> dict[str, object]:
    """Energy, GHG, water, primary energy and ADPe of the tenant's requests, summed per model and day. For an
    admin key, also `executors`: the seconds each model's TEs spent busy, idle or pooled, with their energy and
    GHG (what keeping TEs up costs beyond the requests: compare a serverless catalogue with an always-on one)."""
    gateway = gateway_of(request)
    first, last = _day(since, "since"), _day(until, "until")
    rows = await asyncio.to_thread(gateway.store.footprint_summary, tenant, first, last, model)
    data = [{"tenant": r.tenant, "model": r.model, "day": r.day, "requests": r.requests, **r.criteria} for r in rows]
    totals = {c: sum(r.criteria[c] for r in rows) for c in FOOTPRINT_CRITERIA}
    body: dict[str, object] = {
        "object": "list",
        "data": data,
        "totals": {"requests": sum(r.requests for r in rows), **totals},
    }
    if tenant == ADMIN_TENANT or not gateway.settings.auth:
        await gateway.control.flush_te_time()
        times = await asyncio.to_thread(gateway.store.executor_time, first, last, model)
        body["executors"] = [asdict(entry) for entry in times]
    return body


class FootprintReportRequest(BaseModel):
    """A portfolio document, as `headwater footprint report FILE` reads it from YAML (each part optional: the
    paper's portfolio, factors and five scenarios by default)."""

    model_config = ConfigDict(extra="forbid")

    portfolio: dict[str, Any] = Field(default_factory=dict, description="Keys of headwater.footprint.Portfolio.")
    factors: dict[str, Any] = Field(default_factory=dict, description="Factor overrides, e.g. {'pue': 1.1}.")
    scenarios: dict[str, dict[str, Any]] | None = Field(None, description="Name → levers; default: the paper's.")


@router.post("/footprint/reports", responses=error_responses(400, 401, 409))
async def footprint_report(
    body: FootprintReportRequest, request: Request, tenant: str = Depends(authenticate)
) -> dict[str, object]:
    """Start a `footprint` job: its `report` result file is the HTML report (totals, the split by use case,
    the 2030 scenarios, with charts), its result the totals and each scenario's indexes."""
    document: dict[str, object] = {**body.portfolio, "factors": body.factors}
    if body.scenarios is not None:
        document["scenarios"] = body.scenarios
    service = gateway_of(request).jobs.service_jobs
    job = await asyncio.to_thread(service.create_footprint_report, tenant, document, idempotency_key(request))
    if job.state == "queued":
        service.submit(job.id)
    return job_object(job)
