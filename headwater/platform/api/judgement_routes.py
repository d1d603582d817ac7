"""`POST /v1/judgements`: one item judged synchronously by any served model, the reply being the judge CLI's
`--json` object (`id`, `verdict`, `reasoning`, `parse_error`); or, with `file_id` (an `evals` file of the judge
bench's lines) instead of an item, a `judge` job whose result file is the bench report."""

from __future__ import annotations

import asyncio
from typing import Literal

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field

from headwater.errors import InvalidRequestError
from headwater.judge import TASK_KINDS, Judge
from headwater.judge.inputs import task_from_record
from headwater.judge.judge import judgement_record
from headwater.judge.templates import template_named
from headwater.platform.api.file_routes import idempotency_key
from headwater.platform.api.job_routes import job_object
from headwater.platform.api.responses import error_responses
from headwater.platform.auth import authenticate
from headwater.platform.jobs.records import JobRecord
from headwater.platform.jobs.service_jobs import ServiceJobs
from headwater.platform.served_generator import ServedGenerator
from headwater.platform.service_limits import check_text_sizes
from headwater.platform.state import gateway_of

router = APIRouter(prefix="/v1")
SERVED_TEMPLATES = ("headwater", "prometheus")
"""Built-in templates only: a template file would be a path on the server."""


class JudgementRequest(BaseModel):
    """The judge model, the task kind, how to judge, and the item's fields as in the judge's JSONL (`instruction`,
    `response` or `response_a`/`response_b`, `rubric` or `criteria`, `labels`, `reference`)."""

    model_config = ConfigDict(extra="allow")

    model: str = Field(description="A served model that judges.")
    kind: str = Field(description=f"One of {', '.join(TASK_KINDS)}.")
    retries: int = Field(1, ge=0, le=5, description="Re-asks when the verdict does not parse.")
    samples: int = Field(1, ge=1, le=8, description="Self-consistency: samples per task (majority vote).")
    max_tokens: int = Field(512, ge=16, le=4096, description="Most tokens of the judge's reasoning and verdict.")
    template: str = Field("headwater", description="The judge prompt: headwater (default) or prometheus.")
    file_id: str | None = Field(None, description="An `evals` file of bench lines: judged as a job.")
    order: Literal["fixed", "random", "both"] = Field("random", description="Pairwise order (file jobs).")
    seed: int = Field(0, description="Seed of the random pairwise order (file jobs).")
    policy: Literal["wrong", "half", "drop"] = Field("wrong", description="What a parse failure counts as (jobs).")


@router.post("/judgements", responses=error_responses(400, 401, 404, 413, 429, 503))
async def judgements(body: JudgementRequest, request: Request, tenant: str = Depends(authenticate)) -> dict:
    """Judge one item with the served model `model`: the verdict (a score, A/B, or a label; null when it did not
    parse, with `parse_error`) and the reasoning."""
    gateway = gateway_of(request)
    item = body.model_extra or {}
    if body.file_id is not None:
        return job_object(
            await start_job(body, gateway_of(request).jobs.service_jobs, tenant, idempotency_key(request))
        )
    check_text_sizes(item, gateway.settings.service_max_chars)
    task = task_from_record(body.kind, item)
    _check_template(body.template)
    generator = ServedGenerator(gateway, body.model, tenant, kind="judgement")
    judge = Judge(
        generator,
        retries=body.retries,
        samples=body.samples,
        max_tokens=body.max_tokens,
        template=template_named(body.template),
    )
    [result] = await asyncio.to_thread(judge.judge, [task])
    return {"object": "judgement", "model": body.model, "kind": body.kind, **judgement_record(task, result)}


async def start_job(body: JudgementRequest, service: ServiceJobs, tenant: str, key: str | None) -> JobRecord:
    """The judge bench of `body.file_id` as a `judge` job, started (the item fields belong to a synchronous
    request: refused). The dashboard's judge form starts its jobs here too."""
    if body.model_extra:
        field = sorted(body.model_extra)[0]
        raise InvalidRequestError(f"give either file_id or an item's fields, not both ({field})", param=field)
    _check_template(body.template)
    settings = {name: getattr(body, name) for name in JudgementRequest.model_fields}
    job = await asyncio.to_thread(service.create_judgement, tenant, settings, key)
    if job.state == "queued":
        service.submit(job.id)
    return job


def _check_template(name: str) -> None:
    if name not in SERVED_TEMPLATES:
        raise InvalidRequestError(
            f"template must be one of {', '.join(SERVED_TEMPLATES)} on the platform, got {name!r}", param="template"
        )
