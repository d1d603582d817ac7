"""The gateway: builds the FastAPI app, starts a task executor per served model, wires store and metrics."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI

from headwater.config import Settings
from headwater.engine.protocol import SamplingParams
from headwater.engine.task_executor import ExecutorSpec
from headwater.errors import NotFoundError
from headwater.models.loading import context_window, load_tokenizer, resolve_model
from headwater.platform.admission import Admission
from headwater.platform.annotation.routes import router as annotation_router
from headwater.platform.annotation.store import AnnotationStore
from headwater.platform.api.errors import install_error_handlers
from headwater.platform.api.footprint_routes import router as footprint_router
from headwater.platform.api.limits import BodySizeLimit
from headwater.platform.api.openai_routes import router as openai_router
from headwater.platform.api.responses import openapi_without_unused_422
from headwater.platform.api.system_routes import router as system_router
from headwater.platform.executors.local import LocalTaskExecutor
from headwater.platform.fair_queue import FairQueue
from headwater.platform.footprint import FootprintAccountant
from headwater.platform.metrics import Metrics
from headwater.platform.runs import RunServices
from headwater.platform.serving import ServedModel
from headwater.platform.store import Store


def default_sampling(source: str) -> SamplingParams:
    """The model's recommended sampling (its generation_config), used where a request leaves a field out."""
    from transformers import GenerationConfig

    try:
        config = GenerationConfig.from_pretrained(source)
    except OSError:
        return SamplingParams()
    return SamplingParams(
        temperature=config.temperature if config.do_sample and config.temperature is not None else 1.0,
        top_p=config.top_p if config.do_sample and config.top_p is not None else 1.0,
        top_k=config.top_k if config.do_sample and config.top_k is not None else 0,
    )


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
        self.started_at = time.time()

    def model(self, name: str) -> ServedModel:
        """The served model called `name`, or a 404 that lists the available ones."""
        served = self.models.get(name)
        if served is None:
            available = ", ".join(sorted(self.models)) or "none"
            raise NotFoundError(f"model {name!r} does not exist; available models: {available}", param="model")
        return served

    async def start_model(self, model: str, served_name: str | None = None) -> ServedModel:
        """Prepare the weights, start one task executor for `model` and register it under `served_name`."""
        settings = self.settings
        source = await asyncio.to_thread(resolve_model, model, settings.data_dir)
        tokenizer = await asyncio.to_thread(load_tokenizer, source, settings.data_dir)
        from transformers import AutoConfig

        config = await asyncio.to_thread(AutoConfig.from_pretrained, source)
        defaults = await asyncio.to_thread(default_sampling, source)
        spec = ExecutorSpec(
            model=source,
            requests_address="",
            outputs_address="",
            data_dir=str(settings.data_dir),
            dtype=settings.dtype,
            device=settings.device,
            engine=settings.engine,
        )
        name = served_name or model
        executor = LocalTaskExecutor(spec, settings.engine_start_timeout_s, name=f"{name}/te-0")
        await executor.start()
        kv_room = settings.engine.max_sequence_tokens
        fair_queue = FairQueue(settings.engine_max_sequences, settings.tenant_engine_share)
        served = ServedModel(name, tokenizer, min(context_window(config), kv_room), [executor], defaults, fair_queue)
        self.models[name] = served
        return served

    async def stop(self) -> None:
        for served in self.models.values():
            for executor in served.executors:
                await executor.stop()
        self.store.engine.dispose()

    def refresh_gauges(self) -> None:
        """Copy the executors' latest load reports into the gauges (called at scrape time)."""
        for name, served in self.models.items():
            reports = [te.load_report for te in served.executors]
            self.metrics.running.labels(name).set(sum(r.running for r in reports))
            self.metrics.waiting.labels(name).set(sum(r.waiting for r in reports) + served.fair_queue.waiting)
            total = sum(r.kv_blocks_total for r in reports)
            self.metrics.kv_usage.labels(name).set(sum(r.kv_blocks_used for r in reports) / total if total else 0)
            self.metrics.kv_cached.labels(name).set(sum(r.kv_blocks_cached for r in reports) / total if total else 0)
            self.metrics.task_executors.labels(name).set(sum(te.ready for te in served.executors))
            self.metrics.executor_restarts.labels(name).set(sum(te.restarts for te in served.executors))


def create_app(settings: Settings | None = None, on_ready: Callable[[], None] | None = None) -> FastAPI:
    """The gateway app; its lifespan starts the configured model's task executor (then calls `on_ready`) and
    stops it on exit."""
    settings = settings or Settings()
    gateway = Gateway(settings)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await gateway.start_model(settings.model, settings.public_model_name)
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
    app.add_middleware(BodySizeLimit, max_bytes=gateway.settings.max_body_bytes)
    return app
