"""Prefill/decode disaggregation at the gateway: one client request, a prefill TE then a decode TE, one stream.

DeepFlow (arXiv 2501.14417, §4 and Algorithm 1) serves a model from a prefill group and a decode group. For a model
catalogued with `serving_mode: disaggregated`, each sequence goes first to a prefill TE with `max_tokens` 1: it
computes the prompt's KV and the first token, which is streamed to the client at once, and puts the KV where a
decode TE can take it (`headwater.engine.kv_exchange`). The sequence then goes to a decode TE as prompt + first
token with the hand-off's reference; the decode TE imports the KV as prefix-cache blocks and continues. The client
sees one ordinary stream.

A TE lost before the first token is retried once on another prefill TE, as for a colocated model; after it (a lost
decode TE) the request fails with 503 like any request whose tokens were already shown. The hand-off's storage is
freed in every case: the decode TE frees it when it reads it, the gateway when no decode TE did.

Sampling whose state runs across tokens (a grammar, presence or frequency penalties) cannot be split between two
engines without changing the output, so such a sequence runs whole on a decode TE (route `decode_only`).

A model may also hold colocated TEs beside its pair (`colocated_tes`): then each sequence is routed by Algorithm 1's
step 1 to the pair or to a colocated TE (route `colocated`); a sequence that cannot be split always runs whole on a
colocated TE. `headwater:pd_requests` counts the sequences by route, so the split is visible.

A cached context (`POST /v1/contexts`) is prefilled whole on a prefill TE (route `prefill_only`), or on a colocated
TE where step 1 picks one, and stays pinned there; a request naming it goes to the kind, then the TE, holding it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager

import msgspec

from headwater.engine.kv_transfer import discard
from headwater.engine.protocol import EngineOutput, EngineRequest, KVHandoff, SamplingParams, ServingMode
from headwater.platform.metrics import Metrics
from headwater.platform.te_group import TEGroup


def splittable(params: SamplingParams) -> bool:
    """Whether a sequence can be prefilled on one engine and decoded on another with the same output: no sampling
    state that depends on the tokens generated so far."""
    return params.grammar is None and params.presence_penalty == 0 and params.frequency_penalty == 0


class DisaggregatedRoute:
    """Runs the sequences of one disaggregated model through its prefill and decode TEs."""

    def __init__(self, name: str, group: TEGroup, metrics: Metrics | None = None, mixed: bool = False) -> None:
        """`mixed`: the group also holds colocated TEs (`colocated_tes`), and each sequence first goes through
        Algorithm 1's step 1 (`TEGroup.kind`) to run whole on one of them or through the pair."""
        self.name = name
        self.group = group
        self.metrics = metrics
        self.mixed = mixed
        self.prefill_tokens = 0
        """Prompt tokens of the sequences waiting for a prefill TE or being prefilled: the prefill group's load
        (`headwater.platform.pd_autoscaler`)."""

    async def outputs(self, request: EngineRequest, pinned: bool = False) -> AsyncIterator[EngineOutput]:
        """The sequence's engine outputs, as a colocated TE would give them."""
        whole: ServingMode | None = None
        if self.mixed and (not splittable(request.params) or self.group.kind(request, pinned) == "colocated"):
            whole = "colocated"
        elif not splittable(request.params):
            whole = "decode"
        if whole is not None:
            self._count("colocated" if whole == "colocated" else "decode_only")
            async for output in self._stream(request, whole, pinned, retry=True):
                yield output
            return
        if request.pin_s:
            async for output in self._cache_on_prefill(request, pinned):
                yield output
            return
        prefill = msgspec.structs.replace(request, params=msgspec.structs.replace(request.params, max_tokens=1))
        final: EngineOutput | None = None
        with self._prefilling(request):
            async for output in self._stream(prefill, "prefill", pinned, retry=True):
                if output.finish_reason is None:
                    yield output
                final = output
        if final is None:
            return
        handoff, final.kv_handoff = final.kv_handoff, None
        try:
            if final.finish_reason != "length" or request.params.max_tokens <= 1 or not final.token_ids:
                self._count("prefill_only")
                yield final
                return
            self._count("disaggregated")
            export_s, final.finish_reason, final.kv_transfer_s = final.kv_transfer_s, None, 0.0
            yield final
            async for output in self._decode(request, final.token_ids, handoff, export_s):
                yield output
        finally:
            if handoff is not None:
                discard(handoff)

    async def _cache_on_prefill(self, request: EngineRequest, pinned: bool) -> AsyncIterator[EngineOutput]:
        """A sequence that caches a context (`pin_s`, from `POST /v1/contexts`) runs whole on a prefill TE, whose
        engine keeps its prompt's blocks pinned for the TTL; later requests naming the context then prefill there
        from that cache before their decode TE takes over. Split at its first token, as other sequences are, it
        would leave nothing: transformers does not hash the blocks of a request that ends in its prefill step. The
        KV the prefill TE exports at the end has no decode TE to go to, and is freed."""
        self._count("prefill_only")
        with self._prefilling(request):
            async for output in self._stream(request, "prefill", pinned, retry=True):
                handoff, output.kv_handoff = output.kv_handoff, None
                if handoff is not None:
                    discard(handoff)
                yield output

    @contextmanager
    def _prefilling(self, request: EngineRequest) -> Iterator[None]:
        """Count the request's prompt tokens in `prefill_tokens` while it waits for or is on a prefill TE."""
        self.prefill_tokens += len(request.prompt_ids)
        try:
            yield
        finally:
            self.prefill_tokens -= len(request.prompt_ids)

    async def _decode(
        self, request: EngineRequest, first: list[int], handoff: KVHandoff | None, export_s: float
    ) -> AsyncIterator[EngineOutput]:
        """The rest of the sequence on a decode TE, with the prefill's KV; its cached tokens are the hand-off's, not
        the client's (reported on the prefill's output)."""
        params = msgspec.structs.replace(request.params, max_tokens=request.params.max_tokens - len(first))
        decode = msgspec.structs.replace(
            request, prompt_ids=request.prompt_ids + first, params=params, pin_s=0.0, kv_handoff=handoff
        )
        if handoff is not None and self.metrics is not None:
            self.metrics.kv_transfer_bytes.labels(self.name).inc(handoff.nbytes)
        observed = False
        async for output in self._stream(decode, "decode", False, retry=False):
            if not observed and handoff is not None and self.metrics is not None:
                self.metrics.kv_transfer_seconds.labels(self.name).observe(export_s + output.kv_transfer_s)
            observed = True
            output.cached_tokens, output.kv_transfer_s = 0, 0.0
            yield output

    def _stream(
        self, request: EngineRequest, mode: ServingMode, pinned: bool, retry: bool
    ) -> AsyncIterator[EngineOutput]:
        """One stage on a TE of `mode`; with `retry`, a TE lost before any token is replaced once by another."""
        return self.group.generate(request, pinned, mode, retry)

    def _count(self, route: str) -> None:
        if self.metrics is not None:
            self.metrics.pd_requests.labels(self.name, route).inc()
