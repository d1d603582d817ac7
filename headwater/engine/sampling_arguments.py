"""Per-request sampling settings carried through transformers' continuous batching: each setting rides in the
batch's int32 argument rows, the mechanism transformers uses for its per-request logits processors, and
`sampling_batch` reads them back as the `SamplingBatch` that `headwater.engine.sampling` draws from. Only the
transformers engine needs this (and the transformers import it brings, over a second of start-up)."""

from __future__ import annotations

import torch
from transformers.generation.continuous_batching.cb_logits_processors import (
    ContinuousBatchingLogitsProcessor,
    ContinuousBatchingLogitsProcessorList,
)
from transformers.generation.continuous_batching.requests import FutureRequestState, RequestState
from transformers.generation.logits_process import LogitsProcessorList

from headwater.engine.controls import NO_SLOT
from headwater.engine.sampling import NO_SEED, SamplingBatch, seed_key


class RequestArgument(ContinuousBatchingLogitsProcessor):
    """Carries one per-request sampling setting into the batch's int32 argument tensor; transforms nothing."""

    ignored_kwargs: tuple[str, ...] = ()

    def __init__(self, key: str, default: float | int, is_float: bool) -> None:
        self.key = key
        self.default = default
        self.is_float = is_float
        self.supported_kwargs = {key: float if is_float else int}

    def _encode(self, values: list[float | int]) -> torch.Tensor:
        if self.is_float:
            return torch.tensor(values, dtype=torch.float32).view(dtype=torch.int32)
        return torch.tensor(values, dtype=torch.int32)

    def fill_defaults(self, int32_tensor: torch.Tensor) -> None:
        int32_tensor.copy_(self._encode([self.default] * int32_tensor.numel()).view_as(int32_tensor))

    def value_for(self, state: RequestState) -> float | int:
        return state.logit_processor_kwargs.get(self.key, self.default)

    def prepare_tensor_args(self, requests_with_new_token: list[FutureRequestState]) -> torch.Tensor:
        return self._encode([self.value_for(request.state) for request in requests_with_new_token])

    def __call__(self, scores: torch.Tensor, tensor_arg: torch.Tensor) -> torch.Tensor:
        return scores


class SeedArgument(RequestArgument):
    """The per-step seed key of a seeded request, or NO_SEED."""

    def __init__(self) -> None:
        super().__init__("seed", NO_SEED, is_float=False)

    def value_for(self, state: RequestState) -> int:
        seed = state.logit_processor_kwargs.get("seed")
        if seed is None:
            return NO_SEED
        return seed_key(int(seed), len(state.initial_tokens) + len(state.generated_tokens))


def sampling_argument_list() -> ContinuousBatchingLogitsProcessorList:
    """The processor list the engine installs: five argument rows, in the order `SamplingBatch` reads them. The
    last is the request's slot in the engine's `ControlTable` (penalties, logit_bias, grammar, top_logprobs)."""
    arguments = [
        RequestArgument("temperature", 1.0, is_float=True),
        RequestArgument("top_p", 1.0, is_float=True),
        RequestArgument("top_k", 0, is_float=False),
        SeedArgument(),
        RequestArgument("slot", NO_SLOT, is_float=False),
    ]
    processors = ContinuousBatchingLogitsProcessorList(
        LogitsProcessorList(arguments), drop_unsupported_processors=False
    )
    processors.tensors_required = len(arguments)
    return processors


def sampling_batch(arguments: torch.Tensor, rows: int) -> SamplingBatch:
    """The first `rows` rows' settings from the argument tensor `sampling_argument_list` filled."""
    arguments = arguments[:, :rows].cpu()
    return SamplingBatch(
        temperature=arguments[0].view(dtype=torch.float32),
        top_p=arguments[1].view(dtype=torch.float32),
        top_k=arguments[2],
        seed_key=arguments[3],
        slot=arguments[4],
    )
