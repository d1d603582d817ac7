"""Per-request token sampling for the continuous-batching engine: greedy, temperature, top-k, top-p and seeds.

transformers' continuous batching samples with one global `do_sample` and one global RNG, and reports the
log-probability of the *processed* distribution. An OpenAI-compatible server needs each request's own settings:
temperature 0 must be exactly greedy, `seed` must make a request reproducible whatever else shares its batch, and
`logprobs` must be those of the model (vLLM's default "raw" logprobs). So the engine carries each request's
settings in the batch's per-request argument rows (the mechanism transformers uses for its per-request
processors) and replaces the sampling step with `sample_next_tokens`.

Sampling uses the exponential race: argmax(p / E) with E ~ Exp(1) i.i.d. is an exact draw from p, and it lets a
seeded row take its noise from its own generator (keyed by seed and sequence length) while unseeded rows share
one vectorised draw.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from transformers.generation.continuous_batching.cb_logits_processors import (
    ContinuousBatchingLogitsProcessor,
    ContinuousBatchingLogitsProcessorList,
)
from transformers.generation.continuous_batching.requests import FutureRequestState, RequestState
from transformers.generation.logits_process import LogitsProcessorList

from headwater.engine.controls import NO_SLOT

NO_SEED = -1
_SEED_STRIDE = 1_000_003


def seed_key(seed: int, sequence_length: int) -> int:
    """The RNG seed for one step of a seeded request: depends only on the request's seed and its position."""
    return (seed * _SEED_STRIDE + sequence_length) % (2**31 - 1)


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


@dataclass(frozen=True)
class SamplingBatch:
    """Sampling settings of the rows of one batch, decoded from the argument tensor."""

    temperature: torch.Tensor
    top_p: torch.Tensor
    top_k: torch.Tensor
    seed_key: torch.Tensor
    slot: torch.Tensor

    @classmethod
    def from_arguments(cls, arguments: torch.Tensor, rows: int) -> SamplingBatch:
        arguments = arguments[:, :rows].cpu()
        return cls(
            temperature=arguments[0].view(dtype=torch.float32),
            top_p=arguments[1].view(dtype=torch.float32),
            top_k=arguments[2],
            seed_key=arguments[3],
            slot=arguments[4],
        )


def _filter_top_k(scores: torch.Tensor, top_k: torch.Tensor) -> torch.Tensor:
    if not bool((top_k > 0).any()):
        return scores
    k = torch.where(top_k > 0, top_k, scores.size(-1)).clamp(max=scores.size(-1)).to(scores.device)
    kth = scores.sort(dim=-1, descending=True).values.gather(-1, (k - 1).long().unsqueeze(-1))
    return scores.masked_fill(scores < kth, float("-inf"))


def _filter_top_p(scores: torch.Tensor, top_p: torch.Tensor) -> torch.Tensor:
    if not bool((top_p < 1.0).any()):
        return scores
    sorted_scores, order = scores.sort(dim=-1, descending=True)
    probs = sorted_scores.softmax(dim=-1)
    mass_before = probs.cumsum(dim=-1) - probs
    drop_sorted = mass_before >= top_p.to(scores.device).unsqueeze(-1)
    drop_sorted[:, 0] = False
    drop = drop_sorted.scatter(-1, order, drop_sorted)
    return scores.masked_fill(drop, float("-inf"))


def _exponential_noise(shape: torch.Size, seed_keys: torch.Tensor, device: torch.device) -> torch.Tensor:
    noise = torch.empty(shape, device=device).exponential_()
    for row in (seed_keys != NO_SEED).nonzero().flatten().tolist():
        generator = torch.Generator(device="cpu").manual_seed(int(seed_keys[row]))
        noise[row] = torch.empty(shape[-1]).exponential_(generator=generator).to(device)
    return noise


def sample_next_tokens(
    logits: torch.Tensor, batch: SamplingBatch, adjusted: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Pick one token per row of `logits` [rows, vocab]; return (tokens, their raw model log-probabilities).

    `adjusted` are the scores after the requests' penalties, biases and grammar masks (`ControlTable.apply`):
    tokens are drawn from them, while the reported log-probabilities stay those of the model."""
    logits = logits.float()
    raw_logprobs = logits.log_softmax(dim=-1)
    scores = logits if adjusted is None else adjusted
    greedy = (batch.temperature <= 0).to(logits.device)
    tokens = scores.argmax(dim=-1)
    if not bool(greedy.all()):
        temperature = batch.temperature.clamp(min=1e-5).to(logits.device).unsqueeze(-1)
        scores = _filter_top_p(_filter_top_k(scores / temperature, batch.top_k), batch.top_p)
        probs = scores.softmax(dim=-1)
        sampled = (probs / _exponential_noise(probs.shape, batch.seed_key, logits.device)).argmax(dim=-1)
        tokens = torch.where(greedy, tokens, sampled)
    return tokens, raw_logprobs.gather(-1, tokens.unsqueeze(-1)).squeeze(-1)
