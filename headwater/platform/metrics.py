"""Prometheus metrics of the gateway, with vLLM-like names under the `headwater:` prefix."""

from __future__ import annotations

import copy
from collections.abc import Collection, Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.metrics_core import Metric

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
_TOKEN_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class Metrics:
    """One registry per gateway, so tests and several apps in one process never share counters."""

    def __init__(self) -> None:
        registry = self.registry = CollectorRegistry()
        model = ["model"]
        self.ttft = Histogram(
            "headwater:time_to_first_token_seconds",
            "Time to first token.",
            model,
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        )
        self.tpot = Histogram(
            "headwater:time_per_output_token_seconds",
            "Mean time per output token after the first, per request.",
            model,
            buckets=_TOKEN_BUCKETS,
            registry=registry,
        )
        self.e2e = Histogram(
            "headwater:e2e_request_latency_seconds",
            "End-to-end request latency.",
            model,
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        )
        self.running = Gauge("headwater:num_requests_running", "Sequences being generated.", model, registry=registry)
        self.waiting = Gauge(
            "headwater:num_requests_waiting", "Sequences waiting for the engine.", model, registry=registry
        )
        self.kv_usage = Gauge(
            "headwater:kv_cache_usage_perc",
            "Fraction of KV-cache blocks held by live requests.",
            model,
            registry=registry,
        )
        self.kv_cached = Gauge(
            "headwater:kv_cache_cached_perc",
            "Fraction of KV-cache blocks free of requests but kept for their prefix (reused, evicted first).",
            model,
            registry=registry,
        )
        self.task_executors = Gauge("headwater:task_executors", "Ready task executors.", model, registry=registry)
        self.prefix_queries = Gauge(
            "headwater:prefix_cache_queries", "Requests routed to a TE (per TE).", ["model", "te"], registry=registry
        )
        self.prefix_hits = Gauge(
            "headwater:prefix_cache_hits",
            "Requests routed to a TE holding part of their prompt (per TE, from its cache events).",
            ["model", "te"],
            registry=registry,
        )
        self.contexts = Gauge("headwater:context_cache_entries", "Live cached contexts.", registry=registry)
        self.routing_decisions = Gauge(
            "headwater:routing_decisions",
            "Routing decisions by policy and reason (prefix, least_load, round_robin, context).",
            ["model", "policy", "reason"],
            registry=registry,
        )
        self.kv_transfer_bytes = Counter(
            "headwater:kv_transfer_bytes",
            "KV bytes handed from prefill to decode task executors (disaggregated serving).",
            model,
            registry=registry,
        )
        self.kv_transfer_seconds = Histogram(
            "headwater:kv_transfer_seconds",
            "Seconds of one prefill-to-decode KV hand-off: the export out of the prefill TE's cache and its write, "
            "plus the decode TE's read and copy into its cache.",
            model,
            buckets=_TOKEN_BUCKETS,
            registry=registry,
        )
        self.pd_requests = Counter(
            "headwater:pd_requests",
            "Sequences of disaggregated models by route: disaggregated (prefill TE, then decode TE), prefill_only "
            "(finished by the first token), decode_only (sampling the hand-off cannot carry: whole on a decode TE), "
            "colocated (whole on a colocated TE beside the pair: `colocated_tes`, Algorithm 1's step 1).",
            ["model", "route"],
            registry=registry,
        )
        self.executor_restarts = Gauge(
            "headwater:task_executor_restarts", "Task executors restarted after a failure.", model, registry=registry
        )
        self.executors_by_state = Gauge(
            "headwater:task_executors_by_state",
            "Task executors of a model by state (starting, binding, ready, draining).",
            ["model", "state"],
            registry=registry,
        )
        self.pooled_executors = Gauge(
            "headwater:pooled_task_executors", "Pre-warmed task executors waiting for a model.", registry=registry
        )
        self.scale_phase = Histogram(
            "headwater_scale_phase_seconds",
            "Seconds of each phase of a scale-up (DeepFlow's five): pool_take, weight_load, engine_start, warmup, "
            "registration; source says where the TE (pool, fresh) or the weights (disk) came from.",
            ["phase", "source"],
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        )
        self.te_seconds = Counter(
            "headwater:task_executor_seconds",
            "Seconds task executors spent busy, idle or pooled (model `(pool)`).",
            ["model", "state"],
            registry=registry,
        )
        self.cold_starts = Counter(
            "headwater:cold_starts",
            "Scale-ups that found no pooled TE and started a process.",
            model,
            registry=registry,
        )
        self.prompt_tokens = Counter("headwater:prompt_tokens", "Prompt tokens processed.", model, registry=registry)
        self.generation_tokens = Counter("headwater:generation_tokens", "Tokens generated.", model, registry=registry)
        self.requests = Counter(
            "headwater:request_success",
            "Finished requests by finish reason.",
            ["model", "finished_reason"],
            registry=registry,
        )
        self.energy = Counter(
            "headwater:energy_kwh", "Energy of served requests (footprint estimate).", model, registry=registry
        )
        self.gwp = Counter(
            "headwater:gwp_kgco2e", "GHG emissions of served requests (footprint estimate).", model, registry=registry
        )
        self.rejected = Counter(
            "headwater:requests_rejected", "Requests refused before reaching an engine.", ["reason"], registry=registry
        )

    def render(self, models: Collection[str] | None = None) -> bytes:
        """The Prometheus text exposition of every metric; with `models`, a series labelled with another model is
        left out (an allow-list, so a model taken out of the catalogue or not yet in it is left out too).

        Model names are labels, and a tenant's fine-tuned model carries its suffix and job id in its name: /metrics
        shows them only to callers who may see those models (see `system_routes.shown_models`)."""
        if models is None:
            return generate_latest(self.registry)
        view = CollectorRegistry()
        view.register(_ModelSeries(self.registry, frozenset(models)))
        return generate_latest(view)


class _ModelSeries:
    """A collector over `registry` that keeps the series without a `model` label and those of `models` only."""

    def __init__(self, registry: CollectorRegistry, models: frozenset[str]) -> None:
        self.registry = registry
        self.models = models

    def collect(self) -> Iterator[Metric]:
        for family in self.registry.collect():
            kept = copy.copy(family)
            kept.samples = [s for s in family.samples if "model" not in s.labels or s.labels["model"] in self.models]
            yield kept
