"""GET /v1/footprint: the caller's served requests' impacts, per model and day."""

from __future__ import annotations

import asyncio
import re

from fastapi import APIRouter, Depends, Query, Request

from headwater.errors import InvalidRequestError
from headwater.platform.api.responses import error_responses
from headwater.platform.auth import authenticate
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
    """Energy, GHG, water, primary energy and ADPe of the tenant's requests, summed per model and day."""
    store = gateway_of(request).store
    rows = await asyncio.to_thread(store.footprint_summary, tenant, _day(since, "since"), _day(until, "until"), model)
    data = [{"tenant": r.tenant, "model": r.model, "day": r.day, "requests": r.requests, **r.criteria} for r in rows]
    totals = {c: sum(row[c] for row in data) for c in FOOTPRINT_CRITERIA}
    return {"object": "list", "data": data, "totals": {"requests": sum(r.requests for r in rows), **totals}}
