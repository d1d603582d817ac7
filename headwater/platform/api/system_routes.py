"""Operational routes: /health for load balancers and people, /metrics for Prometheus.

Both answer without a key, as load balancers and scrapers call them, but a tenant's fine-tuned model is named only
to its owner and the admin (see `shown_models`)."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST

from headwater.platform.api.responses import error_responses
from headwater.platform.auth import ADMIN_TENANT, optional_tenant
from headwater.platform.state import gateway_of
from headwater.platform.te_group import te_mode
from headwater.platform.te_time import POOL

router = APIRouter()


@router.get("/health", responses=error_responses(401))
async def health(request: Request) -> JSONResponse:
    """200 when every model that keeps TEs up (`min_tes` > 0) has a ready one, 503 otherwise; the body says which.
    A model scaled to zero is healthy: its next request brings a TE up. The status covers every model; the body lists
    those the caller may see (`shown_models`) and says when one it may not see is the cause."""
    gateway = gateway_of(request)
    shown = await shown_models(request)
    models = {
        name: [
            {
                "name": te.name,
                "pid": te.pid,
                "ready": te.ready,
                "state": te.state,
                "restarts": te.restarts,
                "in_flight": te.in_flight,
                "engine": model.backend,
                "kv_cache": te.info.kv_cache,
                "mode": te_mode(te),
            }
            for te in model.executors
        ]
        for name, model in gateway.models.items()
    }
    entries = gateway.control.entries
    failing = {
        name
        for name, executors in models.items()
        if name in entries and entries[name].min_tes > 0 and not _serving(executors, entries[name].disaggregated)
    }
    listed = models if shown is None else {name: tes for name, tes in models.items() if name in shown}
    body: dict[str, object] = {"status": "degraded" if failing else "ok", "models": listed}
    if failing - listed.keys():
        body["detail"] = "a model not listed here has no ready task executor; the admin key lists every model"
    return JSONResponse(body, status_code=503 if failing else 200)


async def shown_models(request: Request) -> Collection[str] | None:
    """The models the caller may see by name on /health and /metrics; None: every one (the admin key, or auth off).

    A fine-tuned model (`CatalogueEntry.owner`) carries its tenant's suffix and job id in its name, so only its owner
    (by key) and the admin see it there, as on /v1/models; a caller without a key, a load balancer or a scraper,
    sees the shared models only. A wrong key is a 401."""
    gateway = gateway_of(request)
    tenant = await optional_tenant(request)
    if not gateway.settings.auth or tenant == ADMIN_TENANT:
        return None
    entries = gateway.control.entries
    return {name for name in gateway.models if name not in entries or entries[name].owner in (None, tenant)}


def _serving(executors: Sequence[Mapping[str, object]], disaggregated: bool) -> bool:
    """A model can take a request: a ready TE, or for a disaggregated model a ready prefill and decode TE (or a ready
    colocated TE beside them, `colocated_tes`, which then takes every request)."""
    modes = {te["mode"] for te in executors if te["ready"]}
    return {"prefill", "decode"} <= modes or "colocated" in modes if disaggregated else bool(modes)


@router.get("/metrics", responses=error_responses(401))
async def metrics(request: Request) -> Response:
    """Prometheus text. Series of models the caller may not see (`shown_models`) are left out: scrape with the
    admin key (`authorization: {credentials_file: .headwater/admin.key}`) to get every tenant's fine-tuned model."""
    gateway = gateway_of(request)
    shown = await shown_models(request)
    gateway.refresh_gauges()
    return Response(gateway.metrics.render(None if shown is None else {*shown, POOL}), media_type=CONTENT_TYPE_LATEST)
