"""What each KV stream of a llama.cpp context holds, so a new request starts from the longest prefix already there.

llama.cpp's own server keeps each slot's last prompt and reuses its common prefix; on a chat load, where every
prompt starts with the same template and system prompt, that skips most of each prefill (measured with smollm2-135m
at 8 streams: 184 tokens/s with its prompt cache, 113 without). The llama.cpp engine does the same across all its
streams: a finished sequence's stream keeps its prompt until the id is reused, a running sequence's stream holds
the prompt it has fed so far, and a new request's stream is filled from the holder of its longest prefix (a stream copy
when it is another stream) before the rest of its prompt is decoded. Holders are matched only under the request's
salt (its tenant), as the transformers engine's prefix cache is, so one tenant never reuses or times another's KV.

The same contents name full blocks by `block_hashes`, as the transformers engine's cache events do, so the gateway's
prefix-aware routers see which TE holds which prefix whatever the backend.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from headwater.engine.prefix_cache import block_hashes

MIN_PROMPT_CHUNK = 2
"""Fewest prompt tokens llama.cpp is given of one sequence at a time over an f16 cache. Without flash attention it
computes attention for a single query row of a stream otherwise than for several (measured: up to 0.6 in a logit), so
a prompt's last token computed alone, after a reused prefix or as the last piece of a chunked prompt, would not get
the logits it gets when the prompt is computed whole; two or more rows are computed alike however the prompt is cut
(tested). Over a q8_0 cache flash attention computes every row alike, and one token is enough
(`headwater.engine.llamacpp_plan.fewest_prompt_tokens`)."""


@dataclass(frozen=True)
class Held:
    """Tokens whose KV a stream holds at positions 0, 1, …, computed under `salt`: a prompt, then `reply` tokens
    sampled after it."""

    salt: str | None
    tokens: Sequence[int]
    reply: int = 0


def common_length(held: Sequence[int], prompt: Sequence[int]) -> int:
    """How many leading tokens the two share."""
    length = 0
    for ours, theirs in zip(held, prompt, strict=False):
        if ours != theirs:
            break
        length += 1
    return length


def longest_holder(
    prompt: Sequence[int], salt: str | None, holders: Iterable[tuple[int, Held]], tail: int = MIN_PROMPT_CHUNK
) -> tuple[int, int]:
    """(stream, length) of the holder sharing the longest prefix with `prompt` under the same salt; the length is at
    most all but the prompt's last `tail` tokens (`MIN_PROMPT_CHUNK`), so the rest is computed as a chunk llama.cpp
    attends as it would the whole prompt. (-1, 0) when none shares a token."""
    best, best_length = -1, 0
    reusable = prompt[:-tail]
    for stream, held in holders:
        if held.salt != salt:
            continue
        length = common_length(held.tokens, reusable)
        if length > best_length:
            best, best_length = stream, length
    return best, best_length


def held_blocks(holders: Iterable[Held], block_size: int) -> set[int]:
    """The full blocks the streams hold, named by their salted hash chain (reported through `BlockChanges`)."""
    return {h for held in holders for h in block_hashes(held.tokens, block_size, held.salt)}
