"""Operational routes: /health for load balancers and people, /metrics for Prometheus."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST

from headwater.platform.state import gateway_of
from headwater.platform.te_group import te_mode

router = APIRouter()


@router.get("/health")
async def health(request: Request) -> JSONResponse:
    """200 when every model that keeps TEs up (`min_tes` > 0) has a ready one, 503 otherwise; the body says which.
    A model scaled to zero is healthy: its next request brings a TE up."""
    gateway = gateway_of(request)
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
                "mode": te_mode(te),
            }
            for te in model.executors
        ]
        for name, model in gateway.models.items()
    }
    entries = gateway.control.entries
    healthy = all(
        entries[name].min_tes == 0 or _serving(executors, entries[name].disaggregated)
        for name, executors in models.items()
        if name in entries
    )
    body = {"status": "ok" if healthy else "degraded", "models": models}
    return JSONResponse(body, status_code=200 if healthy else 503)


def _serving(executors: Sequence[Mapping[str, object]], disaggregated: bool) -> bool:
    """A model can take a request: a ready TE, or for a disaggregated model a ready prefill and decode TE (or a ready
    colocated TE beside them, `colocated_tes`, which then takes every request)."""
    modes = {te["mode"] for te in executors if te["ready"]}
    return {"prefill", "decode"} <= modes or "colocated" in modes if disaggregated else bool(modes)


@router.get("/metrics")
async def metrics(request: Request) -> Response:
    gateway = gateway_of(request)
    gateway.refresh_gauges()
    return Response(gateway.metrics.render(), media_type=CONTENT_TYPE_LATEST)
