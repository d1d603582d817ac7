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

import torch
from transformers import GenerationConfig, PreTrainedModel
from transformers.generation import ContinuousBatchingConfig
from transformers.generation.continuous_batching import ContinuousBatchingManager, RequestStatus
from transformers.generation.continuous_batching.requests import GenerationOutput

from headwater.engine.protocol import EngineOutput, EngineRequest, FinishReason, LoadReport
from headwater.engine.sampling import SamplingBatch, sample_next_tokens, sampling_argument_list

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class EngineConfig:
    """Sizes of the batch and of the paged KV cache."""

    max_batch_tokens: int = 512
    kv_blocks: int = 256
    kv_block_size: int = 32
    prefix_sharing: bool = True


@dataclass
class _Tracked:
    """What the engine remembers of one live request."""

    emitted: int
    eos_ids: frozenset[int]


def _install_sampler(manager: ContinuousBatchingManager) -> None:
    """Replace the batch processor's sampling step with `sample_next_tokens` (see headwater.engine.sampling)."""
    runner = manager.batch_processor.model_runner
    io = manager.batch_processor.inputs_and_outputs

    def forward_and_sample(model, batch_data, carry_over_ids, prev_output_ids, output_ids) -> None:  # noqa: ANN001
        io.carry_over_tokens(batch_data["input_ids"], carry_over_ids, prev_output_ids)
        logits = model(**batch_data).logits
        if "logits_to_keep" not in batch_data:
            logits = logits[:, batch_data["logits_indices"], :]
        rows = logits.size(1)
        batch = SamplingBatch.from_arguments(batch_data["logits_processor_args"], rows)
        tokens, logprobs = sample_next_tokens(logits[0], batch)
        output_ids[0, :rows].copy_(tokens)
        output_ids[1, :rows].copy_(logprobs.view(dtype=torch.int32))

    runner._forward_process_and_sample = forward_and_sample


class TransformersEngine:
    """An `Engine` on transformers' ContinuousBatchingManager."""

    def __init__(self, model: PreTrainedModel, eos_token_ids: list[int], config: EngineConfig | None = None) -> None:
        self.model = model
        self.eos_token_ids = list(eos_token_ids)
        self.config = config or EngineConfig()
        self._tracked: dict[str, _Tracked] = {}
        self._aborted: queue.SimpleQueue[str] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._manager: ContinuousBatchingManager | None = None

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
        manager = self.model.init_continuous_batching(
            generation_config=generation_config, continuous_batching_config=cb_config
        )
        manager.logit_processor = sampling_argument_list()
        manager.batch_processor = manager._create_batch_processor()
        _install_sampler(manager)
        manager.start()
        self._manager = manager

    def add_request(self, request: EngineRequest) -> None:
        manager = self._require_manager()
        params = request.params
        kwargs: dict[str, float | int] = {
            "temperature": float(params.temperature),
            "top_p": float(params.top_p),
            "top_k": int(params.top_k),
        }
        if params.seed is not None:
            kwargs["seed"] = int(params.seed)
        eos = sorted({*self.eos_token_ids, *request.stop_token_ids})
        with self._lock:
            self._tracked[request.request_id] = _Tracked(emitted=0, eos_ids=frozenset(eos))
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
            known = self._tracked.pop(request_id, None) is not None
        if known:
            self._require_manager().cancel_request(request_id)
            self._aborted.put(request_id)

    def get_outputs(self, timeout: float) -> list[EngineOutput]:
        manager = self._require_manager()
        outputs = self._drain_aborted()
        result = manager.get_result(timeout=0 if outputs else timeout)
        while result is not None:
            delta = self._to_delta(result)
            if delta is not None:
                outputs.append(delta)
            result = manager.get_result(timeout=0)
        return outputs

    def _drain_aborted(self) -> list[EngineOutput]:
        outputs = []
        while not self._aborted.empty():
            outputs.append(EngineOutput(self._aborted.get(), [], [], finish_reason="abort"))
        return outputs

    def _to_delta(self, result: GenerationOutput) -> EngineOutput | None:
        finished = result.is_finished()
        with self._lock:
            tracked = self._tracked.get(result.request_id)
            if tracked is None:  # aborted: its final output was already given
                return None
            new_tokens = result.generated_tokens[tracked.emitted :]
            new_logprobs = result.logprobs[tracked.emitted : tracked.emitted + len(new_tokens)]
            tracked.emitted += len(new_tokens)
            if finished:
                del self._tracked[result.request_id]
        if not finished:
            return EngineOutput(result.request_id, new_tokens, new_logprobs)
        if result.status == RequestStatus.FAILED:
            return EngineOutput(result.request_id, new_tokens, new_logprobs, "error", result.error or "failed")
        reason: FinishReason = (
            "stop" if result.generated_tokens and result.generated_tokens[-1] in tracked.eos_ids else "length"
        )
        return EngineOutput(result.request_id, new_tokens, new_logprobs, reason)

    def load(self) -> LoadReport:
        manager = self._manager
        if manager is None or manager.batch_processor is None:
            return LoadReport()
        processor = manager.batch_processor
        total = processor.cache.num_blocks
        free_fraction = float(processor.cache.compute_free_capacity(relative=True))
        return LoadReport(
            running=len(processor.scheduler.active_requests),
            waiting=len(processor.scheduler.waiting_requests) + manager.input_queue.qsize(),
            kv_blocks_used=round(total * (1.0 - free_fraction)),
            kv_blocks_total=total,
        )

    def is_alive(self) -> bool:
        manager = self._manager
        return manager is not None and manager.is_running() and manager.background_thread_status.fatal_error is None

    def shutdown(self) -> None:
        if self._manager is not None:
            self._manager.stop(block=True, timeout=10)
            self._manager = None

    def _require_manager(self) -> ContinuousBatchingManager:
        if self._manager is None:
            raise RuntimeError("engine not started: call start() first")
        return self._manager
