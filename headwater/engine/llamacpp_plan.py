"""What the llama.cpp engine computes in a step: its running sequences, and their tokens grouped into `llama_decode`
calls so that llama.cpp computes them in as few passes over the weights as exactness allows.

With one KV stream per sequence, llama.cpp splits a call into micro-batches (`split_equal`) of sequences whose ids
follow each other in batch order, each computed as its own pass over the weights, and takes as many tokens from
each as the shortest has. So the plan decides whether a step of 32 sequences costs one pass or 32 (`plan_step`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from headwater.engine.controls import NO_SLOT
from headwater.engine.protocol import EngineRequest
from headwater.engine.stream_prefixes import MIN_PROMPT_CHUNK, Held


def fewest_prompt_tokens(rows_alike: bool) -> int:
    """Fewest tokens of a prompt computed at once, and left to compute after a reused prefix: one when llama.cpp
    computes every row alike (flash attention over a q8_0 cache), else `MIN_PROMPT_CHUNK`."""
    return 1 if rows_alike else MIN_PROMPT_CHUNK


@dataclass
class RunningSequence:
    """One request being generated, on llama.cpp sequence `seq_id`."""

    request: EngineRequest
    seq_id: int
    eos_ids: frozenset[int]
    slot: int = NO_SLOT
    fed: int = 0
    """Prompt tokens already decoded."""
    generated: list[int] = field(default_factory=list)
    emitted: int = 0
    cached: int = 0
    """Prompt tokens whose KV was reused from a stream that held them (`headwater.engine.stream_prefixes`)."""
    rows_alike: bool = False
    """Whether llama.cpp computes each of its rows alike however they are batched, as over a q8_0 cache
    (`headwater.engine.llamacpp_engine.KV_CACHE_TYPES`): then its sampled tokens' KV may be reused too."""

    @property
    def reserved(self) -> int:
        """KV cells this request may ever use: its prompt and its whole completion budget."""
        return len(self.request.prompt_ids) + self.request.params.max_tokens

    @property
    def prefilling(self) -> bool:
        return self.fed < len(self.request.prompt_ids)

    def held(self) -> Held:
        """What its stream holds that a later prompt may reuse: the prompt fed so far, then, over a q8_0 cache, the
        sampled tokens decoded so far (all but the last), so a conversation's next turn reuses the reply too. Over an
        f16 cache not the sampled tokens: each was decoded as one row of its stream, which llama.cpp computes
        otherwise than rows of a prompt chunk (measured: 0.43 in a logit after five), so a prompt reusing them would
        get other logits than computed whole; over a q8_0 cache flash attention computes every row alike, and the
        logits are the same to the bit (tested). Nor a one-token prompt (as a TE's warm-up is): nothing worth reusing,
        and over an f16 cache a lone row (`MIN_PROMPT_CHUNK`)."""
        prompt = self.request.prompt_ids
        if len(prompt) < MIN_PROMPT_CHUNK:
            return Held(self.request.cache_salt, [])
        if self.rows_alike and not self.prefilling:
            reply = self.generated[:-1]
            return Held(self.request.cache_salt, [*prompt, *reply], len(reply))
        return Held(self.request.cache_salt, prompt[: self.fed])


@dataclass(frozen=True)
class PlannedToken:
    """One token of a `llama_decode` call: at `position` of `sequence`, with its logits wanted or not."""

    token: int
    position: int
    sequence: RunningSequence
    wants_logits: bool


def plan_step(
    running: Iterable[RunningSequence], budget: int, exact: bool, rows_alike: bool
) -> list[list[PlannedToken]]:
    """The step's tokens, grouped into `llama_decode` calls: one token per generating sequence, then chunks of
    waiting prompts (first come, first served), within the token `budget`. Feeding a chunk advances its sequence's
    `fed`.

    Decode tokens go in ascending id order (and ids are handed out lowest first), which makes a step of 32 sequences
    one pass instead of 32. Prompt chunks go in a call of their own, as micro-batches of equal-length chunks of
    neighbouring ids (`prompt_order`): llama.cpp would otherwise cut equal slices off chunks of different lengths,
    more passes. When every row is computed alike (`rows_alike`, over a q8_0 cache) a one-token chunk (as a reused
    prompt's last token is) joins the decode tokens instead: one pass for both. How a prompt is cut does not change
    its logits (`headwater.engine.llamacpp_engine.KV_CACHE_TYPES`), nor what shares its micro-batch (as for decode
    tokens). With the unified cache (not `exact`) llama.cpp makes one micro-batch of anything, so everything goes in
    one call."""
    running = list(running)
    decoding = sorted((s for s in running if not s.prefilling), key=lambda s: s.seq_id)
    shared: list[PlannedToken] = []
    for sequence in decoding[:budget]:
        position = len(sequence.request.prompt_ids) + len(sequence.generated) - 1
        shared.append(PlannedToken(sequence.generated[-1], position, sequence, True))
    count = min(len(decoding), budget)
    least = fewest_prompt_tokens(rows_alike)
    chunks: list[list[PlannedToken]] = []
    for sequence in running:
        if sequence.prefilling and count < budget:
            prompt = sequence.request.prompt_ids
            end = sequence.fed + chunk_length(len(prompt) - sequence.fed, budget - count, least)
            chunks += [[PlannedToken(prompt[p], p, sequence, p == len(prompt) - 1) for p in range(sequence.fed, end)]]
            count += end - sequence.fed
            sequence.fed = end
    chunks = [chunk for chunk in chunks if chunk]
    if rows_alike:  # a one-token chunk is computed as a decode token is: it joins their micro-batch
        shared = sorted(shared + [chunk[0] for chunk in chunks if len(chunk) == 1], key=lambda t: t.sequence.seq_id)
        chunks = [chunk for chunk in chunks if len(chunk) > 1]
    prompts = [token for chunk in prompt_order(chunks) for token in chunk]
    if exact:
        return [call for call in (shared, prompts) if call]
    return [shared + prompts]


def prompt_order(chunks: list[list[PlannedToken]]) -> list[list[PlannedToken]]:
    """Prompt chunks in the order that makes each run of equal-length chunks of consecutive ids one micro-batch.

    llama.cpp's `split_equal` starts a micro-batch at the first unused token and adds every sequence whose id is the
    last one's plus 1, then takes as many tokens from each as the shortest has. So a run goes in ascending ids (all
    of it joins: one pass over the weights for, say, 32 prompts' last two tokens, instead of 32), and runs go in
    descending order of their ids, so a run never finds its last id's successor, of another length, after it."""
    runs: list[list[list[PlannedToken]]] = []
    for chunk in sorted(chunks, key=lambda c: c[0].sequence.seq_id):
        last = runs[-1][-1] if runs else None
        if last is not None and chunk[0].sequence.seq_id == last[0].sequence.seq_id + 1 and len(chunk) == len(last):
            runs[-1].append(chunk)
        else:
            runs.append([chunk])
    return [chunk for run in reversed(runs) for chunk in run]


def chunk_length(remaining: int, room: int, least: int = MIN_PROMPT_CHUNK) -> int:
    """How many of a prompt's `remaining` tokens to decode in a step with `room` tokens of budget left: never a chunk
    of fewer than `least` tokens, nor one that leaves fewer behind, unless the prompt has fewer (`MIN_PROMPT_CHUNK`)."""
    length = min(remaining, room)
    if length < remaining and remaining - length < least:
        length = remaining - least
    return length if length >= min(least, remaining) else 0
