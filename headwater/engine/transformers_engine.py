"""The `transformers` engine backend: transformers' continuous batching (paged attention, prefix block sharing).

The manager runs its own generation thread; this class adapts it to the `Engine` protocol: it installs the
per-request sampler (`headwater.engine.sampling`), turns the manager's cumulative outputs into token deltas, and
reports load from the scheduler and the paged cache.
"""

from __future__ import annotations

import logging
import queue
import threading
from dataclasses import dataclass
from typing import TypedDict, cast

import torch
from transformers import GenerationConfig, GenerationMixin, PreTrainedModel, PreTrainedTokenizerBase
from transformers.generation import ContinuousBatchingConfig
from transformers.generation.continuous_batching import ContinuousBatchingManager, RequestStatus
from transformers.generation.continuous_batching.continuous_api import ContinuousBatchProcessor
from transformers.generation.continuous_batching.requests import GenerationOutput

from headwater.engine.controls import ControlTable, RequestControls
from headwater.engine.grammar import MatcherFactory
from headwater.engine.kv_exchange import PagedKVExchange
from headwater.engine.kv_transfer import make_transport
from headwater.engine.prefix_cache import SaltedPrefixCache
from headwater.engine.protocol import (
    CacheEvents,
    EngineConfig,
    EngineOutput,
    EngineRequest,
    FinishReason,
    LoadReport,
)
from headwater.engine.sampling import sample_next_tokens
from headwater.engine.sampling_arguments import sampling_argument_list, sampling_batch

logger = logging.getLogger(__name__)


@dataclass
class _Tracked:
    """What the engine remembers of one live request."""

    emitted: int
    eos_ids: frozenset[int]
    slot: int | None = None


class _SamplerArguments(TypedDict, total=False):
    """What `add_request` hands the logits processors (sampling_argument_list) for one request."""

    temperature: float
    top_p: float
    top_k: int
    seed: int
    slot: int


def _install_sampler(processor: ContinuousBatchProcessor, controls: ControlTable) -> None:
    """Replace the batch processor's sampling step with `sample_next_tokens` (see headwater.engine.sampling),
    with each controlled request's penalties, bias and grammar applied first (see headwater.engine.controls)."""
    runner = processor.model_runner
    io = processor.inputs_and_outputs

    def forward_and_sample(model, batch_data, carry_over_ids, prev_output_ids, output_ids) -> None:
        io.carry_over_tokens(batch_data["input_ids"], carry_over_ids, prev_output_ids)
        logits = model(**batch_data).logits
        if "logits_to_keep" not in batch_data:
            logits = logits[:, batch_data["logits_indices"], :]
        rows = logits.size(1)
        batch = sampling_batch(batch_data["logits_processor_args"], rows)
        tokens, logprobs = sample_next_tokens(logits[0], batch, controls.apply(logits[0], batch.slot))
        controls.record(logits[0], batch.slot, tokens)
        output_ids[0, :rows].copy_(tokens)
        output_ids[1, :rows].copy_(logprobs.view(dtype=torch.int32))

    runner._forward_process_and_sample = forward_and_sample  # type: ignore[method-assign]  # the replacement


class TransformersEngine:
    """An `Engine` on transformers' ContinuousBatchingManager."""

    def __init__(
        self,
        model: PreTrainedModel,
        eos_token_ids: list[int],
        config: EngineConfig | None = None,
        tokenizer: PreTrainedTokenizerBase | None = None,
    ) -> None:
        """`tokenizer` is needed only by requests with a grammar (structured outputs)."""
        self.model = model
        self.eos_token_ids = list(eos_token_ids)
        self.config = config or EngineConfig()
        vocab = model.get_output_embeddings().weight.shape[0]
        self._matchers = MatcherFactory(lambda: tokenizer, vocab) if tokenizer is not None else None
        self._controls = ControlTable(self.eos_token_ids)
        self._tracked: dict[str, _Tracked] = {}
        self._ready: queue.SimpleQueue[EngineOutput] = queue.SimpleQueue()
        """Final outputs made off the generation thread: aborts and refusals."""
        self._lock = threading.Lock()
        self._manager: ContinuousBatchingManager | None = None
        self._prefixes: SaltedPrefixCache | None = None
        self._exchange: PagedKVExchange | None = None

    def start(self) -> None:
        """Build the paged cache and start the generation thread."""
        generation_config = GenerationConfig(do_sample=True, eos_token_id=self.eos_token_ids or -1)
        cb_config = ContinuousBatchingConfig(
            page_size=self.config.kv_block_size,
            num_blocks=self.config.kv_blocks,
            max_batch_tokens=self.config.max_batch_tokens,
            allow_block_sharing=self.config.prefix_sharing,
            return_logprobs=True,
            use_cuda_graph=False,
            use_async_batching=False,
        )
        manager = cast(GenerationMixin, self.model).init_continuous_batching(  # causal LMs mix generation in
            generation_config=generation_config, continuous_batching_config=cb_config
        )
        manager.logit_processor = sampling_argument_list()
        processor = manager._create_batch_processor()
        manager.batch_processor = processor
        _install_sampler(processor, self._controls)
        self._prefixes = SaltedPrefixCache(processor.cache, processor.scheduler.safety_margin)
        self._exchange = PagedKVExchange(processor.cache, make_transport(self.config))
        manager.start()
        self._manager = manager

    def add_request(self, request: EngineRequest) -> None:
        manager = self._require_manager()
        params = request.params
        kwargs: _SamplerArguments = {
            "temperature": float(params.temperature),
            "top_p": float(params.top_p),
            "top_k": int(params.top_k),
        }
        if params.seed is not None:
            kwargs["seed"] = int(params.seed)
        try:
            controls = RequestControls.from_params(params, self._matchers)
        except ValueError as error:  # a grammar the gateway let through but the engine cannot build
            self._ready.put(EngineOutput(request.request_id, [], [], "error", str(error)))
            return
        slot = self._controls.add(controls) if controls is not None else None
        if slot is not None:
            kwargs["slot"] = slot
        eos = sorted({*self.eos_token_ids, *request.stop_token_ids})
        with self._lock:
            self._tracked[request.request_id] = _Tracked(emitted=0, eos_ids=frozenset(eos), slot=slot)
        if self._prefixes is not None:
            self._prefixes.add(request.request_id, request.cache_salt, request.prompt_ids, request.pin_s)
        self._stage_handoff(request)
        manager.add_request(
            input_ids=list(request.prompt_ids),
            request_id=request.request_id,
            max_new_tokens=params.max_tokens,
            streaming=True,
            eos_token_id=eos or -1,
            **kwargs,
        )

    def abort(self, request_id: str) -> None:
        with self._lock:
            tracked = self._tracked.pop(request_id, None)
        if tracked is not None:
            self._require_manager().cancel_request(request_id)
            self._release(tracked)
            if self._prefixes is not None:
                self._prefixes.forget(request_id)
            if self._exchange is not None:
                self._exchange.forget(request_id)
            self._ready.put(EngineOutput(request_id, [], [], finish_reason="abort"))

    def _stage_handoff(self, request: EngineRequest) -> None:
        """A prefill engine exports every request's prompt KV; any engine imports the KV a request brings."""
        if self._exchange is None:
            return
        if self.config.mode == "prefill":
            self._exchange.expect_export(request.request_id, request.prompt_ids, request.cache_salt)
        if request.kv_handoff is not None:
            self._exchange.stage_import(request.request_id, request.kv_handoff, request.prompt_ids, request.cache_salt)

    def _attach_handoff(self, output: EngineOutput) -> None:
        """Report the import seconds of a request, and put a finished prefill request's KV where a decode TE can
        take it (none for a request that failed)."""
        exchange = self._exchange
        if exchange is None:
            return
        output.kv_transfer_s += exchange.import_seconds(output.request_id)
        if output.finish_reason is None or self.config.mode != "prefill":
            return
        handoff, seconds = exchange.publish(output.request_id)
        if handoff is not None and output.finish_reason in ("stop", "length"):
            output.kv_handoff, output.kv_transfer_s = handoff, output.kv_transfer_s + seconds
        elif handoff is not None:
            exchange.transport.discard(handoff)

    def unpin(self, prompt_ids: list[int], cache_salt: str | None) -> None:
        if self._prefixes is not None:
            self._prefixes.unpin(prompt_ids, cache_salt)

    def _release(self, tracked: _Tracked) -> RequestControls | None:
        return self._controls.pop(tracked.slot) if tracked.slot is not None else None

    def get_outputs(self, timeout: float) -> list[EngineOutput]:
        manager = self._require_manager()
        outputs = self._drain_ready()
        result = manager.get_result(timeout=0 if outputs else timeout)
        while result is not None:
            delta = self._to_delta(result)
            if delta is not None:
                self._attach_handoff(delta)
                outputs.append(delta)
            result = manager.get_result(timeout=0)
        return outputs

    def _drain_ready(self) -> list[EngineOutput]:
        outputs = []
        while not self._ready.empty():
            outputs.append(self._ready.get())
        return outputs

    def _to_delta(self, result: GenerationOutput) -> EngineOutput | None:
        finished = result.is_finished()
        with self._lock:
            tracked = self._tracked.get(result.request_id)
            if tracked is None:  # aborted: its final output was already given
                return None
            start = tracked.emitted
            new_tokens = result.generated_tokens[start:]
            new_logprobs = result.logprobs[start : start + len(new_tokens)]
            tracked.emitted += len(new_tokens)
            if finished:
                del self._tracked[result.request_id]
        cached = self._cached_tokens(result.request_id, start, finished)
        controls = self._release(tracked) if finished else self._controls.get(tracked.slot)
        top = controls.top[start : start + len(new_tokens)] if controls is not None else []
        if not finished:
            return EngineOutput(result.request_id, new_tokens, new_logprobs, top_logprobs=top, cached_tokens=cached)
        error = controls.error if controls is not None else None
        if result.status == RequestStatus.FAILED:
            error = result.error or "failed"
        if error:
            return EngineOutput(result.request_id, new_tokens, new_logprobs, "error", error, top, cached)
        reason: FinishReason = (
            "stop" if result.generated_tokens and result.generated_tokens[-1] in tracked.eos_ids else "length"
        )
        return EngineOutput(result.request_id, new_tokens, new_logprobs, reason, top_logprobs=top, cached_tokens=cached)

    def _cached_tokens(self, request_id: str, start: int, finished: bool) -> int:
        """Prompt tokens reused from the cache, reported on the request's first output only."""
        if self._prefixes is None:
            return 0
        cached = self._prefixes.forget(request_id) if finished else self._prefixes.matched(request_id)
        return cached if start == 0 else 0

    def cache_events(self) -> CacheEvents:
        if self._prefixes is None:
            return CacheEvents(self.config.kv_block_size, reset=True)
        return self._prefixes.events()

    def load(self) -> LoadReport:
        manager = self._manager
        if manager is None or manager.batch_processor is None:
            return LoadReport()
        processor = manager.batch_processor
        cache = processor.cache
        total = cache.num_blocks
        not_free = round(total * (1.0 - float(cache.compute_free_capacity(relative=True))))
        cached = sum(len(allocator.ledger.cached_blocks) for allocator in cache.cache_allocators.values())
        return LoadReport(
            running=len(processor.scheduler.active_requests),
            waiting=len(processor.scheduler.waiting_requests) + manager.input_queue.qsize(),
            kv_blocks_used=max(0, not_free - cached),
            kv_blocks_total=total,
            kv_blocks_cached=cached,
        )

    def is_alive(self) -> bool:
        manager = self._manager
        return manager is not None and manager.is_running() and manager.background_thread_status.fatal_error is None

    def shutdown(self) -> None:
        if self._manager is not None:
            self._manager.stop(block=True, timeout=10)
            self._manager = None
            self._prefixes = None
            if self._exchange is not None:
                self._exchange.transport.close()
            self._exchange = None

    def _require_manager(self) -> ContinuousBatchingManager:
        if self._manager is None:
            raise RuntimeError("engine not started: call start() first")
        return self._manager
