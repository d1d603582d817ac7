"""A request's run on the platform: admission, its job row, timing, metrics and the stream of choice deltas.

`Run.begin` does everything that can refuse a request (admission → HTTP 429) before any response byte is sent,
then records the job; `Run.deltas` streams the generation and, however it ends (done, engine lost, client gone),
writes the job's final state, token counts and latencies exactly once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from headwater.errors import HeadwaterError
from headwater.footprint.impacts import CRITERIA, Impacts
from headwater.platform.admission import Admission
from headwater.platform.footprint import FootprintAccountant
from headwater.platform.metrics import Metrics
from headwater.platform.serving import ChoiceDelta, GenerationPlan, ServedModel
from headwater.platform.store import JobResult, Store


@dataclass
class RunServices:
    """What a run needs from the gateway."""

    store: Store
    metrics: Metrics
    admission: Admission
    footprint: FootprintAccountant


@dataclass
class Run:
    """One admitted request being generated."""

    services: RunServices
    tenant: str
    model: ServedModel
    plan: GenerationPlan
    job_id: str
    started: float = field(default_factory=time.perf_counter)
    completion_tokens: int = 0
    cached_by_prompt: dict[int, int] = field(default_factory=dict)
    """Prompt tokens reused from the cache, per prompt (its `n` choices share one prompt)."""
    ttft_s: float | None = None
    concurrency_at_start: int = 1
    _closed: bool = False

    @classmethod
    async def begin(
        cls, services: RunServices, tenant: str, kind: str, model: ServedModel, plan: GenerationPlan
    ) -> Run:
        services.admission.acquire(tenant, plan.sequences)
        try:
            job_id = await asyncio.to_thread(services.store.start_job, tenant, kind, model.name)
        except BaseException:
            services.admission.release(tenant, plan.sequences)
            raise
        return cls(services, tenant, model, plan, job_id, concurrency_at_start=model.in_flight + 1)

    async def deltas(self) -> AsyncIterator[ChoiceDelta]:
        state, error = "failed", None
        try:
            async for delta in self.model.stream(self.plan):
                if self.ttft_s is None and delta.token_count:
                    self.ttft_s = time.perf_counter() - self.started
                    self.model.group.record_ttft(self.ttft_s)
                self.completion_tokens += delta.token_count
                if delta.cached_tokens:
                    prompt = delta.index // self.plan.n
                    self.cached_by_prompt[prompt] = max(self.cached_by_prompt.get(prompt, 0), delta.cached_tokens)
                yield delta
            state = "succeeded"
        except (asyncio.CancelledError, GeneratorExit):
            state, error = "cancelled", "the client went away before the response was complete"
            raise
        except Exception as failure:  # recorded on the job, then raised to the caller
            error = f"{type(failure).__name__}: {failure}" if not isinstance(failure, HeadwaterError) else str(failure)
            raise
        finally:
            await self.close(state, error)

    async def close(self, state: str = "cancelled", error: str | None = None) -> None:
        """Release the admission slot and write the job's outcome; later calls do nothing."""
        if self._closed:
            return
        self._closed = True
        self.services.admission.release(self.tenant, self.plan.sequences)
        e2e = time.perf_counter() - self.started
        concurrency = max(1.0, (self.concurrency_at_start + self.model.in_flight) / 2)
        impacts = self.services.footprint.impacts(
            self.model.group.info, self.plan.prompt_tokens, self.completion_tokens, e2e, concurrency
        )
        self._observe(state, e2e, impacts)
        footprint: dict[str, float | str] = {
            "estimator": impacts.estimator,
            **{criterion: impacts[criterion].value for criterion in CRITERIA},
        }
        result = JobResult(state, self.plan.prompt_tokens, self.completion_tokens, self.ttft_s, e2e, error, footprint)
        await asyncio.shield(asyncio.to_thread(self.services.store.finish_job, self.job_id, result))

    def _observe(self, state: str, e2e: float, impacts: Impacts) -> None:
        metrics, name = self.services.metrics, self.model.name
        metrics.energy.labels(name).inc(impacts["energy_kwh"].value)
        metrics.gwp.labels(name).inc(impacts["gwp_kgco2e"].value)
        metrics.prompt_tokens.labels(name).inc(self.plan.prompt_tokens)
        metrics.generation_tokens.labels(name).inc(self.completion_tokens)
        metrics.requests.labels(name, state).inc()
        metrics.e2e.labels(name).observe(e2e)
        if self.ttft_s is not None:
            metrics.ttft.labels(name).observe(self.ttft_s)
            per_choice = self.completion_tokens / max(1, self.plan.n * len(self.plan.prompts))
            if per_choice > 1:
                metrics.tpot.labels(name).observe((e2e - self.ttft_s) / (per_choice - 1))
