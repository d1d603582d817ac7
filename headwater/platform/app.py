"""The gateway: builds the FastAPI app, brings up the catalogue through the control plane, wires store and
metrics."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI

from headwater.config import Settings
from headwater.errors import NotFoundError
from headwater.platform.admission import Admission
from headwater.platform.annotation.routes import router as annotation_router
from headwater.platform.annotation.store import AnnotationStore
from headwater.platform.api.admin_routes import router as admin_router
from headwater.platform.api.attack_routes import router as attack_router
from headwater.platform.api.batch_routes import router as batch_router
from headwater.platform.api.context_routes import router as context_router
from headwater.platform.api.detection_routes import router as detection_router
from headwater.platform.api.errors import install_error_handlers
from headwater.platform.api.file_routes import router as file_router
from headwater.platform.api.finetune_routes import router as finetune_router
from headwater.platform.api.footprint_routes import router as footprint_router
from headwater.platform.api.job_routes import router as job_router
from headwater.platform.api.judgement_routes import router as judgement_router
from headwater.platform.api.limits import BodySizeLimit
from headwater.platform.api.moderation_routes import router as moderation_router
from headwater.platform.api.openai_routes import router as openai_router
from headwater.platform.api.redteam_routes import router as redteam_router
from headwater.platform.api.responses import openapi_without_unused_422
from headwater.platform.api.system_routes import router as system_router
from headwater.platform.catalogue import CatalogueEntry, catalogue_from_settings
from headwater.platform.contexts import ContextStore
from headwater.platform.control import ControlPlane
from headwater.platform.detection import DetectionService
from headwater.platform.footprint import FootprintAccountant
from headwater.platform.jobs.services import JobServices
from headwater.platform.metrics import Metrics
from headwater.platform.moderation import ModerationService
from headwater.platform.runs import RunServices
from headwater.platform.serving import ServedModel
from headwater.platform.store import Store
from headwater.platform.web.routes import router as dashboard_router


class Gateway:
    """State shared by the routes: settings, store, metrics, admission and the served models."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        self.store = Store(settings.resolved_store_url)
        self.annotations = AnnotationStore(self.store.engine)
        self.metrics = Metrics()
        self.admission = Admission(settings.max_queued_sequences, settings.tenant_max_queued_sequences)
        self.services = RunServices(self.store, self.metrics, self.admission, FootprintAccountant(settings))
        self.models: dict[str, ServedModel] = {}
        self.control = ControlPlane(settings, self.models, self.metrics, self.store, self.services.footprint)
        self.moderation = ModerationService(self)
        self.detection = DetectionService(self)
        self.contexts = ContextStore()
        self.jobs = JobServices(self)
        self.started_at = time.time()

    def model(self, name: str, tenant: str | None = None) -> ServedModel:
        """The served model called `name`, or a 404 that lists the available ones. With `tenant`, another tenant's
        model (a fine-tuned one, `CatalogueEntry.owner`) is a 404 like a name that does not exist, so names never
        leak; without, the platform's own lookups see every model."""
        served = self.models.get(name)
        if served is None or name not in self.visible_models(tenant):
            available = ", ".join(sorted(self.visible_models(tenant))) or "none"
            raise NotFoundError(f"model {name!r} does not exist; available models: {available}", param="model")
        return served

    def visible_models(self, tenant: str | None) -> dict[str, ServedModel]:
        """The served models `tenant` may see and use: every shared one and its own fine-tuned ones."""
        entries = self.control.entries
        return {
            name: served
            for name, served in self.models.items()
            if name not in entries or entries[name].visible_to(tenant)
        }

    async def stop(self) -> None:
        await self.jobs.stop()
        await self.control.stop()
        self.store.engine.dispose()

    def refresh_gauges(self) -> None:
        """Copy the executors' latest load reports into the gauges (called at scrape time)."""
        self.metrics.prefix_queries.clear()  # per-TE series: a TE that was scaled away leaves no stale series
        self.metrics.prefix_hits.clear()
        for name, served in self.models.items():
            reports = [te.load_report for te in served.executors]
            self.metrics.running.labels(name).set(sum(r.running for r in reports))
            self.metrics.waiting.labels(name).set(sum(r.waiting for r in reports) + served.fair_queue.waiting)
            total = sum(r.kv_blocks_total for r in reports)
            self.metrics.kv_usage.labels(name).set(sum(r.kv_blocks_used for r in reports) / total if total else 0)
            self.metrics.kv_cached.labels(name).set(sum(r.kv_blocks_cached for r in reports) / total if total else 0)
            self.metrics.task_executors.labels(name).set(sum(te.ready for te in served.executors))
            self.metrics.executor_restarts.labels(name).set(sum(te.restarts for te in served.executors))
            self._refresh_routing(name, served)
            for state in ("starting", "binding", "ready", "draining"):
                count = sum(te.state == state for te in served.executors)
                self.metrics.executors_by_state.labels(name, state).set(count)
        self.metrics.pooled_executors.set(len(self.control.pool.members))
        self.metrics.contexts.set(len(self.contexts))

    def _refresh_routing(self, name: str, served: ServedModel) -> None:
        for te in served.executors:
            self.metrics.prefix_queries.labels(name, te.id).set(te.cache_view.queries)
            self.metrics.prefix_hits.labels(name, te.id).set(te.cache_view.hits)
        scheduler = served.group.scheduler
        for reason, count in scheduler.decisions.items():
            self.metrics.routing_decisions.labels(name, scheduler.policy, reason).set(count)


def create_app(
    settings: Settings | None = None,
    on_ready: Callable[[], None] | None = None,
    catalogue: list[CatalogueEntry] | None = None,
) -> FastAPI:
    """The gateway app; its lifespan brings up the catalogue (default: the settings' catalogue file or model),
    then calls `on_ready`, and stops every task executor on exit."""
    settings = settings or Settings()
    gateway = Gateway(settings)
    entries = catalogue if catalogue is not None else catalogue_from_settings(settings)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await gateway.control.start(entries)
        gateway.jobs.start()
        if on_ready is not None:
            on_ready()
        try:
            yield
        finally:
            await gateway.stop()

    app = _app(gateway, lifespan)
    app.include_router(openai_router)
    app.include_router(footprint_router)
    app.include_router(system_router)
    app.include_router(admin_router)
    app.include_router(moderation_router)
    app.include_router(context_router)
    app.include_router(judgement_router)
    app.include_router(detection_router)
    app.include_router(file_router)
    app.include_router(batch_router)
    app.include_router(finetune_router)
    app.include_router(redteam_router)
    app.include_router(attack_router)
    app.include_router(job_router)
    app.include_router(dashboard_router)
    return app


def create_annotation_app(settings: Settings | None = None) -> FastAPI:
    """Only the annotation app, with no model to serve (`headwater detect annotate serve`)."""
    gateway = Gateway(settings or Settings())

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await gateway.stop()

    return _app(gateway, lifespan)


def _app(gateway: Gateway, lifespan: Callable) -> FastAPI:
    """What every Headwater app shares: the gateway state, the error shape, the body limit, the annotation app."""
    app = FastAPI(title="Headwater", version="0.1.0", lifespan=lifespan)
    app.state.gateway = gateway
    app.openapi = lambda: openapi_without_unused_422(app)  # type: ignore[method-assign]
    install_error_handlers(app)
    app.include_router(annotation_router)
    upload_limit = gateway.settings.max_file_bytes + 64 * 1024  # the file plus its multipart envelope
    app.add_middleware(
        BodySizeLimit, max_bytes=gateway.settings.max_body_bytes, path_limits={"/v1/files": upload_limit}
    )
    return app
