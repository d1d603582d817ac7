"""The control plane: catalogued models brought up and down with demand, on TEs taken from the pool.

Each catalogued model gets a `ServedModel` with a TE group. Every `autoscale_period_s` (or at once when a request
waits in an activator) the autoscaler's decision is applied: a scale-up takes a pooled TE and binds the model to it
(each phase timed and exported); a scale-down drains the least busy TEs, which finish their requests and go back
to the pool. Models are added and removed at run time by the admin API.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import shutil
import time
from collections.abc import Awaitable, Coroutine, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from headwater.config import Settings
from headwater.engine.ipc import ModelSpec
from headwater.engine.kv_transfer import default_kv_dir
from headwater.engine.protocol import SamplingParams, ServingMode
from headwater.errors import InvalidRequestError, ModelLoadError, NotFoundError
from headwater.models.gguf import gguf_serving_folder, resolve_gguf, saved_tokenizer
from headwater.models.loading import context_window, load_tokenizer, resolve_model
from headwater.platform.autoscaler import GroupLoad, ScaleDecider, ScalePolicy
from headwater.platform.catalogue import CatalogueEntry
from headwater.platform.disaggregation import DisaggregatedRoute
from headwater.platform.executors import Executor, TEResources, executor_factory, te_resources
from headwater.platform.fair_queue import FairQueue
from headwater.platform.footprint import FootprintAccountant
from headwater.platform.metrics import Metrics
from headwater.platform.pd_autoscaler import PairDecider, PairLoad, PairPolicy
from headwater.platform.pool import Pool
from headwater.platform.serving import ServedModel
from headwater.platform.store import Store
from headwater.platform.te_group import TEGroup, te_mode
from headwater.platform.te_time import ExecutorClock
from headwater.platform.weight_keeper import WeightKeeper, sweep_stale

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

logger = logging.getLogger(__name__)
TE_TIME_FLUSH_S = 10.0
"""How often the TE time is written to the store."""
PD_MODES: tuple[ServingMode, ...] = ("prefill", "decode", "colocated")
"""The TE groups of a disaggregated model (colocated: the TEs beside its pair, `colocated_tes`)."""


def kv_dir_for(name: str) -> Path:
    """The folder of a disaggregated model's KV hand-offs: in /dev/shm, named after this gateway's pid so that a
    later gateway sweeps it if this one dies (`headwater.platform.weight_keeper.sweep_stale`)."""
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", name)
    return default_kv_dir().parent / f"headwater-{os.getpid()}-kv-{safe}"


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


class ControlPlane:
    """Owns the catalogue, the pool and the autoscaling loop of one gateway."""

    def __init__(
        self,
        settings: Settings,
        models: dict[str, ServedModel],
        metrics: Metrics,
        store: Store,
        accountant: FootprintAccountant,
    ) -> None:
        self.settings = settings
        self.models = models
        self.metrics = metrics
        self.store = store
        self.clock = ExecutorClock(accountant, time.monotonic())
        self._flushed_at = time.monotonic()
        self.entries: dict[str, CatalogueEntry] = {}
        self.specs: dict[str, ModelSpec] = {}
        self.kv_dirs: dict[str, Path] = {}
        """Hand-off folders of the disaggregated models."""
        self._make_executor = executor_factory(settings)
        self.pool = Pool(settings.pool_size, self._make_executor, te_resources(settings))
        self.weights = WeightKeeper(settings.keep_warm_s, settings.share_weights)
        self.decider = ScaleDecider()
        self.pair_decider = PairDecider()
        self.mode_specs: dict[str, dict[ServingMode, ModelSpec]] = {}
        """A disaggregated model's spec for a TE of each mode (what a scale-up binds)."""
        self._taking: dict[str, int] = {}
        """Scale-ups of each model (`name#mode` for a group of a disaggregated one) still waiting for their TE (not
        in the group yet), so that a slow fresh start is not asked for again on every tick."""
        self._wake = asyncio.Event()
        self._loop: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[None]] = set()

    def _resources(self, name: str) -> TEResources:
        """What each TE of model `name` reserves on the executor backend (its catalogue entry, else the settings)."""
        entry = self.entries[name]
        return te_resources(self.settings, entry.num_cpus, entry.num_gpus)

    async def start(self, entries: list[CatalogueEntry]) -> None:
        """Bring up every entry's `min_tes` (cold, in parallel), fill the pool, start autoscaling."""
        await asyncio.to_thread(sweep_stale)
        await asyncio.gather(*(self.add(entry) for entry in entries))
        self.pool.refill_soon()
        self._loop = asyncio.create_task(self._autoscale(), name="autoscaler")

    async def add(self, entry: CatalogueEntry) -> ServedModel:
        """Catalogue a model and start its `min_tes` TEs; ModelLoadError (the TE's own reason) if it cannot load,
        and then it is not catalogued."""
        name, settings = entry.served_name, self.settings
        backend = entry.engine or settings.engine_backend
        if entry.disaggregated and backend != "transformers":
            raise InvalidRequestError(
                f"model {name!r}: serving_mode disaggregated needs the transformers engine, not {backend}",
                param="serving_mode",
            )
        if backend == "llamacpp":
            source, tokenizer_folder, window = await asyncio.to_thread(self._gguf_files, entry)
            tokenizer, defaults = None, SamplingParams()
            shared = None  # llama.cpp memory-maps the GGUF: a host's TEs of one file share its page-cache pages
        else:
            source, tokenizer, window, defaults = await asyncio.to_thread(self._hf_model, entry)
            shared = self.weights.add(name, source, entry.preload)
        exact = settings.llamacpp_kv == "streams"  # only the llamacpp engine reads it
        group = TEGroup(name, settings.activator_timeout_s, settings.activator_max_waiting, self._wake.set)
        group.scheduler = entry.scheduler()
        spec = ModelSpec(
            source,
            str(settings.data_dir),
            settings.dtype,
            settings.device,
            settings.engine,
            shared,
            backend,
            settings.engine_max_sequences,
            exact,
            settings.llamacpp_kv_type,
        )
        self.entries[name], self.specs[name] = entry, spec
        starts: Sequence[Awaitable[None]] = []
        if tokenizer is None:
            # A llama.cpp TE needs nothing from the gateway's tokenizer: it starts while that loads, so the two
            # overlap instead of adding up (each takes a second or two on a small CPU).
            starts = [asyncio.create_task(self._cold_start(name, group)) for _ in range(entry.min_tes)]
            tokenizer = await self._load_tokenizer_beside(starts, group, tokenizer_folder)
        queue = FairQueue(settings.engine_max_sequences, settings.tenant_engine_share)
        served = ServedModel(name, tokenizer, window, group, defaults, queue)
        served.backend = backend
        self.models[name] = served
        self.weights.tick(self._in_use(), time.monotonic())  # a `preload` model starts reading ahead now
        if entry.disaggregated:
            starts = self._disaggregate(entry, served, spec)
        elif not starts:
            starts = [self._cold_start(name, group) for _ in range(entry.min_tes)]
        try:
            await asyncio.gather(*starts)
        except ModelLoadError:
            await self.remove(name)
            raise
        return served

    async def _load_tokenizer_beside(
        self, starts: Sequence[Awaitable[None]], group: TEGroup, folder: Path
    ) -> PreTrainedTokenizerBase:
        """The tokenizer saved in `folder`, loaded in a thread while the model's first TEs start; if it cannot be
        loaded, those TEs are stopped once started and the model is not catalogued."""
        try:
            return await asyncio.to_thread(saved_tokenizer, folder)
        except BaseException:
            await asyncio.gather(*starts, return_exceptions=True)
            await asyncio.gather(*(executor.stop() for executor in list(group.executors)), return_exceptions=True)
            self.entries.pop(group.name, None)
            self.specs.pop(group.name, None)
            raise

    def _disaggregate(
        self, entry: CatalogueEntry, served: ServedModel, spec: ModelSpec
    ) -> list[Coroutine[Any, Any, None]]:
        """Route the model's sequences through prefill then decode TEs, and start `prefill_tes` + `decode_tes` of
        them, and `colocated_tes` colocated TEs beside them (none with `min_tes: 0`: the first request brings them
        up); from there the autoscaler sizes each group (`_apply_pair`)."""
        folder = self.kv_dirs[served.name] = kv_dir_for(served.name)
        mixed = entry.colocated_tes > 0
        served.disaggregated = DisaggregatedRoute(served.name, served.group, self.metrics, mixed)

        def in_mode(mode: ServingMode) -> ModelSpec:
            transport = entry.kv_transport or spec.engine.kv_transport
            engine = msgspec.structs.replace(spec.engine, mode=mode, kv_dir=str(folder), kv_transport=transport)
            return msgspec.structs.replace(spec, engine=engine)

        prefill, decode = in_mode("prefill"), in_mode("decode")
        self.mode_specs[served.name] = {"prefill": prefill, "decode": decode, "colocated": spec}
        if entry.min_tes == 0:
            return []
        return (
            [self._cold_start(served.name, served.group, prefill) for _ in range(entry.prefill_tes)]
            + [self._cold_start(served.name, served.group, decode) for _ in range(entry.decode_tes)]
            + [self._cold_start(served.name, served.group, spec) for _ in range(entry.colocated_tes)]
        )

    def _hf_model(self, entry: CatalogueEntry) -> tuple[str, PreTrainedTokenizerBase, int, SamplingParams]:
        """Folder (or id), tokenizer, window and recommended sampling of a model for the transformers engine."""
        from transformers import AutoConfig

        source = resolve_model(entry.model, self.settings.data_dir)
        tokenizer = load_tokenizer(source, self.settings.data_dir)
        window = min(context_window(AutoConfig.from_pretrained(source)), self.settings.engine.max_sequence_tokens)
        return source, tokenizer, window, default_sampling(source)

    def _gguf_files(self, entry: CatalogueEntry) -> tuple[str, Path, int]:
        """The GGUF file, the folder of its own tokenizer, and the window: the trained context, capped by what one
        request may hold in the llama.cpp engine (one KV stream: the cells split between `engine_max_sequences`
        sequences; or the whole unified cache)."""
        gguf = resolve_gguf(entry.model, entry.quantization)
        tokenizer_folder, trained = gguf_serving_folder(gguf, self.settings.data_dir)
        room = self.settings.engine.llamacpp_request_room(
            self.settings.engine_max_sequences, self.settings.llamacpp_kv == "streams"
        )
        return str(gguf), tokenizer_folder, min(trained, room)

    async def _cold_start(self, name: str, group: TEGroup, spec: ModelSpec | None = None) -> None:
        """A TE of model `name` started with its model at once (the start-up path: nothing is pooled yet); `spec`
        for a TE in another mode than the model's own spec (a prefill or decode TE)."""
        executor = self._make_executor(self._resources(name))
        executor.name = f"{name}/{executor.id}"
        group.executors.append(executor)
        try:
            await executor.start(spec or self.specs[name])
        except ModelLoadError:
            group.executors.remove(executor)
            raise
        self._observe_phases(name, executor)
        group.changed()

    async def remove(self, name: str) -> None:
        """Take a model out of the catalogue (requests for it get 404 from now on) and stop its TEs once their
        requests are done."""
        served = self.models.pop(name, None)
        if served is None:
            raise NotFoundError(f"model {name!r} is not in the catalogue", param="name")
        self.entries.pop(name, None)
        self.specs.pop(name, None)
        self.decider.forget(name)
        self.pair_decider.forget(name)
        self.mode_specs.pop(name, None)
        for executor in list(served.group.executors):
            executor.draining = True
        await asyncio.gather(*(self._retire(served, executor, keep=False) for executor in served.group.executors))
        self.weights.remove(name)
        folder = self.kv_dirs.pop(name, None)
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)

    async def _autoscale(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.settings.autoscale_period_s)
            self._wake.clear()
            now = time.monotonic()
            for name, served in list(self.models.items()):
                try:
                    self._apply(name, served, now)
                except Exception:  # one model's trouble must not stop the scaling of the others
                    logger.exception("autoscaling %s failed", name)
            self._tick_clock(now)
            self.weights.tick(self._in_use(), now)
            if now - self._flushed_at >= TE_TIME_FLUSH_S:
                await self.flush_te_time()

    def _in_use(self) -> dict[str, bool]:
        """Which models have a TE or a request now (their weights stay warm for `keep_warm_s` after)."""
        return {name: bool(served.group.executors) or served.in_flight > 0 for name, served in self.models.items()}

    def _tick_clock(self, now: float) -> None:
        groups = {name: list(served.group.executors) for name, served in self.models.items()}
        self.clock.tick(groups, self.pool.members, now)

    async def flush_te_time(self) -> None:
        """Write the TE time accounted since the last flush to the store (and the seconds to /metrics)."""
        self._flushed_at = time.monotonic()
        entries = self.clock.take()
        for entry in entries:
            self.metrics.te_seconds.labels(entry.model, entry.state).inc(entry.seconds)
        try:
            await asyncio.to_thread(self.store.add_executor_time, entries)
        except Exception:  # accounting must never stop the autoscaler; the next flush tries again with new time
            logger.exception("could not record task-executor time")

    def _apply(self, name: str, served: ServedModel, now: float) -> None:
        entry = self.entries[name]
        if entry.disaggregated:
            self._apply_pair(name, served, entry, now)
            return
        group = served.group
        active = [executor for executor in group.executors if not executor.draining]
        demand = served.in_flight + served.fair_queue.waiting + group.waiting
        policy = ScalePolicy(
            entry.min_tes, entry.max_tes, entry.target_in_flight, entry.idle_timeout_s, entry.ttft_slo_s
        )
        load = GroupLoad(len(active), demand, group.slo_miss_rate(entry.ttft_slo_s))
        desired = self.decider.desired(name, load, policy, now)
        self._resize(served, name, active, desired, self.specs[name])

    def _apply_pair(self, name: str, served: ServedModel, entry: CatalogueEntry, now: float) -> None:
        """Size each group of a disaggregated model on its own load (`headwater.platform.pd_autoscaler`); a lost
        TE is restarted in its mode by its supervisor, not replaced here."""
        group = served.group
        members = {mode: [e for e in group.executors if te_mode(e) == mode] for mode in PD_MODES}
        active = {mode: [e for e in members[mode] if not e.draining] for mode in PD_MODES}
        route = served.disaggregated
        load = PairLoad(
            GroupLoad(
                len(active["prefill"]), route.prefill_tokens if route else 0, group.slo_miss_rate(entry.ttft_slo_s)
            ),
            GroupLoad(len(active["decode"]), sum(e.in_flight for e in members["decode"]) + served.fair_queue.waiting),
            len(active["colocated"]),
            group.waiting + sum(e.in_flight for e in members["colocated"] + members["prefill"]),
        )
        size = self.pair_decider.desired(name, load, PairPolicy.from_entry(entry), now)
        for mode in PD_MODES:
            self._resize(served, f"{name}#{mode}", active[mode], size.of(mode), self.mode_specs[name][mode])

    def _resize(self, served: ServedModel, key: str, active: list[Executor], desired: int, spec: ModelSpec) -> None:
        """Bring the TEs `active` (not draining; one model's, or one mode's of it: `key` counts their scale-ups
        under way) to `desired`: take pooled TEs and bind `spec`, or drain the least busy ready ones."""
        for _ in range(desired - len(active) - self._taking.get(key, 0)):
            self._taking[key] = self._taking.get(key, 0) + 1
            self._spawn(self._scale_up(served, spec, key))
        if desired < len(active):
            ready = sorted((e for e in active if e.state == "ready"), key=lambda e: e.in_flight)
            for executor in ready[: len(active) - desired]:
                executor.draining = True
                self._spawn(self._retire(served, executor, keep=True))
            served.group.changed()

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _scale_up(self, served: ServedModel, spec: ModelSpec, key: str) -> None:
        """Take a pooled TE and bind `spec` (the model's, or its spec in one mode) to it; each phase is timed. `key`
        is where `_resize` counts the scale-up while it is under way."""
        try:
            executor, took_s, from_pool = await self.pool.take(self._resources(served.name))
        except ModelLoadError as error:  # no TE could be started (e.g. the cluster cannot hold one): retried later
            logger.error("scaling %s up failed: %s", served.name, error)
            return
        finally:
            self._taking[key] = self._taking.get(key, 1) - 1
        if served.name not in self.models:  # removed meanwhile
            await self.pool.give_back(executor)
            return
        source = "pool" if from_pool else "fresh"
        self.metrics.scale_phase.labels("pool_take", source).observe(took_s)
        if not from_pool:
            self.metrics.cold_starts.labels(served.name).inc()
        served.group.executors.append(executor)
        try:
            await executor.bind(spec, f"{served.name}/{executor.id}")
        except ModelLoadError as error:
            logger.error("scaling %s up failed: %s", served.name, error)
            served.group.executors.remove(executor)
            await executor.stop()
            return
        registered = time.monotonic()
        self._observe_phases(served.name, executor)
        served.group.changed()
        self.metrics.scale_phase.labels("registration", source).observe(time.monotonic() - registered)
        logger.info("%s: %s bound in %s", served.name, executor.id, executor.phases)

    def _observe_phases(self, name: str, executor: Executor) -> None:
        weights_source = getattr(executor, "weights_source", "disk")
        self.weights.bound(name, weights_source)
        for phase, seconds in executor.phases.items():
            self.metrics.scale_phase.labels(phase, weights_source if phase == "weight_load" else "te").observe(seconds)

    async def _retire(self, served: ServedModel, executor: Executor, keep: bool) -> None:
        """Drain: wait until the TE's requests are done, take it out of the group, return it to the pool (or stop
        it when the model is gone)."""
        while executor.in_flight:
            await asyncio.sleep(0.1)
        if executor in served.group.executors:
            served.group.executors.remove(executor)
        served.group.changed()
        if keep and executor.state == "draining":
            await self.pool.give_back(executor)
        else:
            await executor.stop()

    def snapshot(self) -> dict[str, object]:
        """What `GET /v1/admin/executors` and `headwater ps` show."""
        models = [
            {
                "name": name,
                "model": entry.model,
                "min_tes": entry.min_tes,
                "max_tes": entry.max_tes,
                "policy": entry.policy,
                "serving_mode": entry.serving_mode,
                "colocated_tes": entry.colocated_tes,
                "prefill_tes": list(entry.prefill_bounds) if entry.disaggregated else None,
                "decode_tes": list(entry.decode_bounds) if entry.disaggregated else None,
                "weights": self.weights.report(name),
                "tes": [
                    {
                        "id": executor.id,
                        "state": executor.state,
                        "mode": te_mode(executor),
                        "pid": executor.pid,
                        "actor": executor.actor_id,
                        "in_flight": executor.in_flight,
                        "bound_since": executor.bound_since,
                        "load": {"running": executor.load_report.running, "waiting": executor.load_report.waiting},
                        "cache": {
                            "blocks": len(executor.cache_view.blocks),
                            "queries": executor.cache_view.queries,
                            "hits": executor.cache_view.hits,
                        },
                    }
                    for executor in self.models[name].group.executors
                ],
            }
            for name, entry in self.entries.items()
            if name in self.models
        ]
        pool = [
            {"id": executor.id, "state": executor.state, "pid": executor.pid, "actor": executor.actor_id}
            for executor in self.pool.members
        ]
        return {"models": models, "pool": pool}

    async def stop(self) -> None:
        if self._loop is not None:
            self._loop.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop
            self._tick_clock(time.monotonic())
            await self.flush_te_time()
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        executors = [executor for served in self.models.values() for executor in served.group.executors]
        await asyncio.gather(*(executor.stop() for executor in executors))
        await self.pool.stop()
        self.weights.stop()
        for folder in self.kv_dirs.values():
            shutil.rmtree(folder, ignore_errors=True)
