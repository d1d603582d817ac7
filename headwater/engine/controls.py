"""Per-request logits controls of the OpenAI API, applied in the engine's sampling step.

`presence_penalty` and `frequency_penalty` subtract, from each token's logit, the penalty for having generated it
at all and per time it was generated (OpenAI's definition, on the completion's tokens only, as vLLM does);
`logit_bias` adds its value to the logit; a grammar masks every token that would leave it; `top_logprobs` records
the most likely tokens of the raw distribution at each step.

These controls hold state across steps (counts, a grammar matcher), which transformers' per-request argument rows
cannot carry. So each controlled request gets a slot number that rides in its argument row (see
`headwater.engine.sampling`), and its state lives here, keyed by slot. Rows without a slot cost nothing.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import llguidance
import torch

from headwater.engine.grammar import MatcherFactory
from headwater.engine.protocol import SamplingParams
from headwater.errors import InvalidRequestError

NO_SLOT = -1
_BIT = torch.arange(8, dtype=torch.uint8)


@dataclass
class RequestControls:
    """The controls of one request and the state they keep while it generates."""

    presence_penalty: float = 0.0
    frequency_penalty: float = 0.0
    logit_bias: dict[int, float] = field(default_factory=dict)
    top_logprobs: int = 0
    matcher: llguidance.LLMatcher | None = None
    counts: dict[int, int] = field(default_factory=dict)
    top: list[list[tuple[int, float]]] = field(default_factory=list)
    """Per generated token, its step's most likely (token id, raw logprob)."""
    error: str | None = None
    _bias: tuple[torch.Tensor, torch.Tensor] | None = field(default=None, repr=False)

    @classmethod
    def from_params(cls, params: SamplingParams, matchers: MatcherFactory | None) -> RequestControls | None:
        """The controls `params` asks for, or None when it asks for none (the request then gets no slot)."""
        penalised = params.presence_penalty != 0 or params.frequency_penalty != 0
        if not (penalised or params.logit_bias or params.top_logprobs or params.grammar):
            return None
        matcher = None
        if params.grammar is not None:
            if matchers is None:
                raise InvalidRequestError("this engine was started without a tokenizer, so it cannot follow a grammar")
            matcher = matchers.matcher(params.grammar)
        return cls(
            params.presence_penalty, params.frequency_penalty, dict(params.logit_bias), params.top_logprobs, matcher
        )

    def adjust(self, scores: torch.Tensor, eos_token_ids: list[int]) -> None:
        """Penalties, bias and grammar mask, in place on this request's row of scores [vocab]."""
        if self.counts and (self.presence_penalty or self.frequency_penalty):
            ids = torch.tensor(list(self.counts), device=scores.device)
            times = torch.tensor(list(self.counts.values()), dtype=scores.dtype, device=scores.device)
            scores[ids] -= self.frequency_penalty * times + self.presence_penalty
        if self.logit_bias:
            ids, biases = self._bias_tensors(scores)
            scores.index_add_(0, ids, biases)
        if self.matcher is not None:
            scores.masked_fill_(~self._allowed(scores.numel(), eos_token_ids).to(scores.device), float("-inf"))

    def _bias_tensors(self, scores: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """`logit_bias` as (token ids, biases) on the scores' device, made on the first step and kept: it does not
        change, and two tensors a step cost more than the addition."""
        cached = self._bias
        if cached is None or cached[1].device != scores.device or cached[1].dtype != scores.dtype:
            ids = torch.tensor(list(self.logit_bias), device=scores.device)
            cached = ids, torch.tensor(list(self.logit_bias.values()), dtype=scores.dtype, device=scores.device)
            self._bias = cached
        return cached

    def _allowed(self, vocab: int, eos_token_ids: list[int]) -> torch.Tensor:
        """The grammar's mask over the vocabulary; only end-of-sequence once the matcher has failed."""
        assert self.matcher is not None
        allowed = torch.zeros(vocab, dtype=torch.bool)
        if self.matcher.is_error():
            self.error = self.error or f"the output left its grammar: {self.matcher.get_error()}"
            allowed[eos_token_ids] = True
            return allowed
        packed = torch.frombuffer(bytearray(self.matcher.compute_bitmask()), dtype=torch.uint8)
        bits = ((packed.unsqueeze(-1) >> _BIT) & 1).flatten().bool()
        width = min(vocab, bits.numel())
        allowed[:width] = bits[:width]
        return allowed

    def record(self, token: int, top: list[tuple[int, float]] | None) -> None:
        """After sampling: count the token, advance the grammar, keep the step's top tokens."""
        self.counts[token] = self.counts.get(token, 0) + 1
        if self.matcher is not None and not self.matcher.is_error():
            self.matcher.consume_token(token)
        if top is not None:
            self.top.append(top)


class ControlTable:
    """Slot → controls, shared by the engine's request thread (add, pop) and its generation thread (apply, record)."""

    def __init__(self, eos_token_ids: list[int]) -> None:
        self.eos_token_ids = list(eos_token_ids)
        self._slots: dict[int, RequestControls] = {}
        self._next = 0
        self._lock = threading.Lock()

    def add(self, controls: RequestControls) -> int:
        with self._lock:
            slot, self._next = self._next, (self._next + 1) % (2**31 - 1)
            self._slots[slot] = controls
        return slot

    def get(self, slot: int | None) -> RequestControls | None:
        return self._slots.get(slot) if slot is not None else None

    def pop(self, slot: int) -> RequestControls | None:
        with self._lock:
            return self._slots.pop(slot, None)

    def _rows(self, slots: torch.Tensor) -> list[tuple[int, RequestControls]]:
        rows = []
        for row, slot in enumerate(slots.tolist()):
            controls = self._slots.get(slot) if slot != NO_SLOT else None
            if controls is not None:
                rows.append((row, controls))
        return rows

    def apply(self, logits: torch.Tensor, slots: torch.Tensor) -> torch.Tensor | None:
        """The scores to sample from [rows, vocab], or None when no row of the batch is controlled."""
        rows = self._rows(slots)
        if not rows:
            return None
        scores = logits.float().clone()
        for row, controls in rows:
            controls.adjust(scores[row], self.eos_token_ids)
        return scores

    def record(self, logits: torch.Tensor, slots: torch.Tensor, tokens: torch.Tensor) -> None:
        """Tell each controlled row which token it got; top tokens come from the raw (unadjusted) logits."""
        rows = self._rows(slots)
        if not rows:
            return
        k = max(controls.top_logprobs for _, controls in rows)
        top_values: list[list[float]] | None = None
        top_ids: list[list[int]] | None = None
        if k:
            wanted = torch.tensor([row for row, _ in rows], device=logits.device)
            values, ids = logits[wanted].float().log_softmax(dim=-1).topk(k, dim=-1)
            top_values, top_ids = values.cpu().tolist(), ids.cpu().tolist()
        chosen = tokens.cpu().tolist()
        for position, (row, controls) in enumerate(rows):
            top = None
            if top_ids is not None and top_values is not None and controls.top_logprobs:
                n = controls.top_logprobs
                top = list(zip(top_ids[position][:n], top_values[position][:n], strict=True))
            controls.record(int(chosen[row]), top)
