"""The dashboard: one page at `/` over a small JSON API under `/dashboard/api`, behind the annotation app's key login.

A tenant sees the served models (and their TE counts), its own long jobs with their progress, events and result
files (and starts a judge job from a form), its recent requests, and its footprint per day and per model as SVG bar
charts drawn on the server. The admin tenant also sees each TE's pid and load, and the pool. With auth off everyone
is the anonymous tenant, as on the /v1 routes, so the dashboard shows what the API wrote.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from importlib.resources import files
from typing import TYPE_CHECKING, cast

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field

from headwater.errors import InvalidRequestError, NotFoundError
from headwater.footprint.report import UNITS
from headwater.platform.api.judgement_routes import JudgementRequest, start_job
from headwater.platform.auth import ADMIN_TENANT, ANONYMOUS_TENANT, KeyLogin
from headwater.platform.state import gateway_of
from headwater.platform.store import FOOTPRINT_CRITERIA, REQUEST_KINDS
from headwater.platform.web.charts import Bar, bar_chart

if TYPE_CHECKING:
    from headwater.platform.jobs.records import JobRecord
    from headwater.platform.jobs.services import JobServices

router = APIRouter(include_in_schema=False)
LOGIN = KeyLogin("hw_dashboard", "/dashboard", "/")
ASSETS = {"dashboard.js": "text/javascript", "dashboard.css": "text/css"}
CHART_DAYS = 30
"""The per-day chart shows the last this many days that have requests."""


@dataclass(frozen=True)
class Viewer:
    """Who is looking: the tenant whose jobs and footprint the dashboard shows, and whether it is the admin."""

    tenant: str
    admin: bool


class LoginBody(BaseModel):
    key: str = Field(min_length=1, max_length=200, description="Your API key.")


async def viewer(request: Request) -> Viewer:
    """The logged-in tenant (cookie or Bearer key), or 401; with auth off, the anonymous tenant as admin."""
    if not gateway_of(request).settings.auth:
        return Viewer(ANONYMOUS_TENANT, admin=True)
    tenant = await LOGIN.caller(request)
    return Viewer(tenant, tenant == ADMIN_TENANT)


def _jobs(request: Request) -> JobServices:
    return gateway_of(request).jobs


@router.get("/", response_class=HTMLResponse)
async def page() -> HTMLResponse:
    return HTMLResponse((files("headwater.platform.web") / "index.html").read_text(encoding="utf-8"))


@router.get("/dashboard/{name}")
async def asset(name: str) -> Response:
    """The page's script and style sheet (only those two names: nothing else of the package is served)."""
    if name not in ASSETS:
        raise NotFoundError(f"no dashboard file {name!r}", param="name")
    text = (files("headwater.platform.web") / name).read_text(encoding="utf-8")
    return Response(text, media_type=ASSETS[name])


@router.post("/dashboard/api/login")
async def login(body: LoginBody, request: Request, response: Response) -> dict[str, object]:
    if not gateway_of(request).settings.auth:
        return {"tenant": ANONYMOUS_TENANT, "admin": True}
    tenant = await LOGIN.tenant_for(request, body.key)
    LOGIN.remember(response, body.key)
    return {"tenant": tenant, "admin": tenant == ADMIN_TENANT}


@router.post("/dashboard/api/logout")
async def logout(response: Response) -> dict[str, object]:
    LOGIN.forget(response)
    return {"ok": True}


@router.get("/dashboard/api/me")
async def me(request: Request) -> dict[str, object]:
    who = await viewer(request)
    return {"tenant": who.tenant, "admin": who.admin}


@router.get("/dashboard/api/models")
async def models(request: Request) -> dict[str, object]:
    """The catalogue's models the viewer may use (not another tenant's fine-tuned ones) with their TE counts by state
    and load; the admin sees every model, and also each TE and the pool."""
    who = await viewer(request)
    gateway = gateway_of(request)
    snapshot = gateway.control.snapshot()
    entries = gateway.control.entries
    listed = [
        model
        for model in cast(list[dict], snapshot["models"])
        if who.admin or model["name"] not in entries or entries[model["name"]].visible_to(who.tenant)
    ]
    shown = [_model_view(model, who.admin) for model in listed]
    return {"models": shown, "pool": snapshot["pool"] if who.admin else None}


def _model_view(model: dict, admin: bool) -> dict[str, object]:
    states: dict[str, int] = defaultdict(int)
    for te in model["tes"]:
        states[te["state"]] += 1
    view = {
        "name": model["name"],
        "model": model["model"],
        "min_tes": model["min_tes"],
        "max_tes": model["max_tes"],
        "policy": model["policy"],
        "tes": len(model["tes"]),
        "states": dict(states),
        "running": sum(te["load"]["running"] for te in model["tes"]),
        "waiting": sum(te["load"]["waiting"] for te in model["tes"]),
    }
    if admin:
        view["executors"] = [
            {key: te[key] for key in ("id", "state", "pid", "in_flight", "load")} for te in model["tes"]
        ]
    return view


@router.get("/dashboard/api/jobs")
async def jobs(request: Request, limit: int = Query(50, ge=1, le=500)) -> dict[str, object]:
    """The viewer's long jobs (batches, fine-tuning, judgements…), newest first."""
    who = await viewer(request)
    records = await asyncio.to_thread(_jobs(request).records.recent, who.tenant, limit)
    return {"jobs": [_job_view(record) for record in records]}


@router.get("/dashboard/api/jobs/{job_id}")
async def job(job_id: str, request: Request) -> dict[str, object]:
    """One of the viewer's jobs with its events and result files; another tenant's job is a 404."""
    who = await viewer(request)
    return await asyncio.to_thread(_job_detail, _jobs(request), who.tenant, job_id)


def _job_detail(services: JobServices, tenant: str, job_id: str) -> dict[str, object]:
    record = services.records.get(job_id, tenant)
    events = services.records.events(job_id, limit=500)
    result_files = []
    for role, file_id in sorted(record.files.items()):
        try:
            row = services.files.get(tenant, file_id)
        except NotFoundError:
            continue  # the tenant deleted it (DELETE /v1/files/{id}); the job still shows
        result_files.append({"role": role, "id": row.id, "filename": row.filename, "bytes": row.bytes})
    return {
        **_job_view(record),
        "params": record.params,
        "result": record.result,
        "events": [{"at": _iso(event.created_at), "level": event.level, "message": event.message} for event in events],
        "files": result_files,
    }


def _job_view(record: JobRecord) -> dict[str, object]:
    return {
        "id": record.id,
        "kind": record.kind,
        "model": record.model,
        "state": record.state,
        "progress": record.progress,
        "error": record.error,
        "created_at": _iso(record.created_at),
        "started_at": _iso(record.started_at),
        "finished_at": _iso(record.finished_at),
    }


class JudgeJobBody(BaseModel):
    """The page's judge form: the judge model, the task kind and the bench lines (pasted, or a file the page read)."""

    model: str = Field(min_length=1, max_length=200, description="A served model that judges.")
    kind: str = Field(description="absolute, pairwise or classification.")
    items: str = Field(min_length=1, description="JSONL: the lines `headwater judge bench` reads.")
    max_tokens: int = Field(64, ge=16, le=4096, description="Most tokens of each verdict.")


@router.post("/dashboard/api/judgements")
async def start_judgement(body: JudgeJobBody, request: Request) -> dict[str, object]:
    """Start a judge job from the page: the items are kept as one of the viewer's `evals` files, then judged as
    `POST /v1/judgements` with that `file_id` would (same checks, same job)."""
    who = await viewer(request)
    services = _jobs(request)
    data = body.items.encode()
    row = await asyncio.to_thread(services.files.create, who.tenant, "dashboard-items.jsonl", "evals", data)
    settings = JudgementRequest(model=body.model, kind=body.kind, file_id=row.id, max_tokens=body.max_tokens)
    return _job_view(await start_job(settings, services.service_jobs, who.tenant, None))


@router.get("/dashboard/api/files/{file_id}")
async def download(file_id: str, request: Request, inline: bool = Query(False)) -> Response:
    """One of the viewer's files, as an attachment (the page's download links), or `inline` as plain text for the
    page to show (a report opened in the page: never rendered by the browser as HTML of this origin)."""
    who = await viewer(request)
    store = _jobs(request).files
    row = await asyncio.to_thread(store.get, who.tenant, file_id)
    data = await asyncio.to_thread(store.content, who.tenant, file_id)
    if inline:
        headers = {"X-Content-Type-Options": "nosniff"}
        return Response(data, media_type="text/plain; charset=utf-8", headers=headers)
    headers = {"Content-Disposition": f'attachment; filename="{row.filename.replace(chr(34), "")}"'}
    return Response(data, media_type="application/octet-stream", headers=headers)


@router.get("/dashboard/api/requests")
async def requests(request: Request, limit: int = Query(50, ge=1, le=500)) -> dict[str, object]:
    """The viewer's latest API requests (one job row each), newest first."""
    who = await viewer(request)
    rows = await asyncio.to_thread(gateway_of(request).store.list_jobs, who.tenant, limit, REQUEST_KINDS)
    keys = ("id", "kind", "model", "state", "prompt_tokens", "completion_tokens", "ttft_s", "e2e_s", "error")
    return {"requests": [{**{k: getattr(row, k) for k in keys}, "created_at": _iso(row.created_at)} for row in rows]}


@router.get("/dashboard/api/footprint")
async def footprint(request: Request, criterion: str = Query("gwp_kgco2e")) -> dict[str, object]:
    """The viewer's footprint for one criterion, per day (the last CHART_DAYS days with requests) and per model,
    as tables and as SVG bar charts."""
    who = await viewer(request)
    if criterion not in FOOTPRINT_CRITERIA:
        choices = ", ".join(FOOTPRINT_CRITERIA)
        raise InvalidRequestError(f"no criterion {criterion!r}; one of {choices}", param="criterion")
    rows = await asyncio.to_thread(gateway_of(request).store.footprint_summary, who.tenant)
    per_day: dict[str, float] = defaultdict(float)
    per_model: dict[str, float] = defaultdict(float)
    for row in rows:
        per_day[row.day] += row.criteria[criterion]
        per_model[row.model] += row.criteria[criterion]
    days = [Bar(day, per_day[day]) for day in sorted(per_day)[-CHART_DAYS:]]
    by_model = [Bar(name, value) for name, value in sorted(per_model.items(), key=lambda item: -item[1])]
    unit = UNITS[criterion]
    return {
        "criterion": criterion,
        "unit": unit,
        "criteria": list(FOOTPRINT_CRITERIA),
        "requests": sum(row.requests for row in rows),
        "per_day": [{"day": bar.label, "value": bar.value} for bar in days],
        "per_model": [{"model": bar.label, "value": bar.value} for bar in by_model],
        "charts": {
            "per_day": bar_chart(days, f"{criterion} per day", unit),
            "per_model": bar_chart(by_model, f"{criterion} per model", unit),
        },
    }


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None
