"""Which llama.cpp sequence id, and so which KV stream, each request of the llama.cpp engine gets, and what the
streams of free ids still hold for later prompts to reuse.

With one KV stream per sequence (`exact`), llama.cpp computes a call as one pass over the weights per run of
consecutive sequence ids, so ids go lowest first and a finished sequence's hole is closed by moving the highest
decoding sequence down (`close_gaps`). A finished sequence's stream keeps its prompt until its id is handed out
again; a new request takes the free stream holding the longest prefix of its prompt (`take`), then starts from the
longest prefix any stream holds (`start_from_held`), as llama.cpp's own server reuses a slot's last prompt.
What a stream held is moved aside before the stream is reused (`_vacate`), so the next turn of a finished
conversation still finds its prompt. With the unified cache (`exact` False) ids do not matter and a finished
sequence's cells are freed at once. The llama.cpp calls are two: copy a stream, remove a stream's cells from a
position on; until `attach`, nothing is called (the engine's planning tests run without llama.cpp).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from typing import Any, Protocol

from headwater.engine.protocol import EngineRequest
from headwater.engine.stream_prefixes import MIN_PROMPT_CHUNK, Held, longest_holder

MIN_COPIED_TOKENS = 16
"""Reuse another stream's prefix only when it is at least this long: llama.cpp copies a stream only whole (its KV
for every cell), which costs about what computing a few tokens does."""


class OnStream(Protocol):
    """A running sequence as the streams see it: its id (changed when it moves down), and whether it still feeds
    its prompt (such a sequence stays where it is)."""

    seq_id: int

    @property
    def prefilling(self) -> bool: ...


class Streams:
    """The free sequence ids (a heap: the lowest goes first) and what their streams still hold."""

    def __init__(self, count: int, exact: bool, tail: int = MIN_PROMPT_CHUNK) -> None:
        self.exact = exact
        self.tail = tail
        """Prompt tokens always left to compute after a reused prefix (`longest_holder`)."""
        self.free = list(range(count))
        self.kept: dict[int, Held] = {}
        """What the streams of free ids hold (finished sequences' prompts; over a q8_0 cache their replies too), oldest
        first."""
        self._lib: Any = None
        self._ctx: Any = None

    def attach(self, lib: Any, context: Any) -> None:
        """The llama.cpp binding and context whose memory the streams are."""
        self._lib, self._ctx = lib, context

    def take(self, request: EngineRequest) -> int:
        """A free sequence id for a new request: the free stream that holds the longest prefix of its prompt, when
        that is longer than what the lowest free id holds of it, else the lowest free id.

        Ids go lowest first so running sequences keep neighbouring ids; but a prompt seen before (the next turn of
        a conversation, a repeated request) then lands on whatever id is lowest, and its prefix must be copied over
        from the stream that holds it, which evicts what that id held (`_vacate`). When many such prompts arrive at
        once, each eviction loses a prefix the next one wanted. Taking the holder's own stream reuses it without a
        copy, as llama.cpp's server gives a request the slot whose prompt is most like it; a gap this leaves among
        running ids is closed once the prompt is fed (`close_gaps`)."""
        lowest = self.free[0]
        if self.exact and self.kept:
            holder, length = longest_holder(request.prompt_ids, request.cache_salt, self.kept.items(), self.tail)
            if length > self._kept_prefix(lowest, request):
                self.free.remove(holder)
                heapq.heapify(self.free)
                return holder
        return heapq.heappop(self.free)

    def start_from_held(self, target: int, request: EngineRequest, running: Iterable[tuple[int, Held]]) -> int:
        """Give stream `target`, just taken for `request`, the longest prefix of its prompt that any stream holds
        (`running` sequences' streams or kept ones) and clear whatever else it held; returns the prefix's length,
        the prompt tokens not to decode (`headwater.engine.stream_prefixes`).

        Its own stream's leftover prefix costs nothing to keep; another stream's is copied (whole with exact
        streams, which llama.cpp copies only whole; cells shared with the unified cache) when it is longer by
        `MIN_COPIED_TOKENS`. The logits are the same as from a fresh stream (tested; see the engine's
        `KV_CACHE_TYPES`)."""
        own = self._kept_prefix(target, request)
        holders = [*running, *((stream, held) for stream, held in self.kept.items() if stream != target)]
        source, length = longest_holder(request.prompt_ids, request.cache_salt, holders, self.tail)
        if length < own + (MIN_COPIED_TOKENS if self.exact else 1):
            source, length = target, own
        self._vacate(target, length if source == target else 0, source, Held(request.cache_salt, request.prompt_ids))
        if self._lib is not None:
            memory = self._lib.llama_get_memory(self._ctx)
            if source != target:
                whole = self.exact  # across streams llama.cpp copies only whole streams
                self._lib.llama_memory_seq_cp(memory, source, target, -1 if whole else 0, -1 if whole else length)
            self._lib.llama_memory_seq_rm(memory, target, length, -1)
        return length

    def _kept_prefix(self, stream: int, request: EngineRequest) -> int:
        """How much of the request's prompt the free `stream` still holds (0 when it holds nothing)."""
        kept = self.kept.get(stream)
        return longest_holder(request.prompt_ids, request.cache_salt, [(stream, kept)] if kept else [], self.tail)[1]

    def close_gaps(self, running: Iterable[OnStream]) -> None:
        """Move decoding sequences down into free ids below them, so their ids follow each other again.

        A finished sequence leaves its id free among running ones, and llama.cpp then computes the decode call as one
        pass over the weights per run of consecutive ids; 8 sequences with 3 holes between them cost 4 passes.
        Moving the highest decoding sequence into the lowest free id below it is one copy of its KV stream
        (`llama_memory_seq_cp` across streams copies the stream's buffer at the next decode, cells at the same
        places, so its logits do not change), far cheaper than a pass. Prompts still being fed stay where they are;
        with the unified cache ids do not matter."""
        if not self.exact or self._lib is None:
            return
        memory = self._lib.llama_get_memory(self._ctx)
        # highest first; a moved sequence lands below every free id, so it never needs to move again
        decoding = sorted((s for s in running if not s.prefilling), key=lambda s: -s.seq_id)
        for highest in decoding:
            if not self.free or highest.seq_id < self.free[0]:
                return
            self._vacate(self.free[0], 0, highest.seq_id)
            source, target = highest.seq_id, heapq.heapreplace(self.free, highest.seq_id)
            self._lib.llama_memory_seq_cp(memory, source, target, -1, -1)
            self._lib.llama_memory_seq_rm(memory, source, -1, -1)
            highest.seq_id = target

    def release(self, seq_id: int, held: Held) -> None:
        """A finished sequence's id is free again. With exact streams its stream is its own until the id is reused,
        so it keeps what it `held` for later prompts; the unified cache's cells are shared by every sequence, so
        they are freed."""
        if self.exact:
            self.kept[seq_id] = held
        elif self._lib is not None:
            self._lib.llama_memory_seq_rm(self._lib.llama_get_memory(self._ctx), seq_id, -1, -1)
        heapq.heappush(self.free, seq_id)

    def _vacate(self, stream: int, keep: int, busy: int, incoming: Held | None = None) -> None:
        """Before a free stream is given to a sequence, move what it holds past its first `keep` tokens (which the
        sequence reuses) to another free stream, so a later prompt can still reuse it (the next turn of a
        conversation comes after its reply finished): to an empty stream, the highest (ids are handed out lowest
        first, so it is overwritten last), else over the oldest content that is older. One whole-stream copy; `busy`
        (the stream the sequence copies its prefix from) is never the one overwritten. Not moved, under the same salt:
        content that is a prefix of the `incoming` sequence's prompt, which the sequence holds again once its prompt
        is fed; nor, over a q8_0 cache, content whose prompt is the incoming prompt (a prompt sent again, or a reply
        asked again), where only the old reply is lost. Moving either would cost a copy and evict something else:
        when a wave of 32 prompts came back, each moving its old reply evicted what a later one wanted (median ttft
        0.85-1.2 s against 0.16 without)."""
        ages = {other: age for age, other in enumerate(self.kept)}
        held = self.kept.pop(stream, None)
        if held is None or len(held.tokens) <= keep or self._lib is None:
            return
        if incoming is not None and incoming.salt == held.salt:
            prompt = held.tokens[: len(held.tokens) - held.reply]
            if held.tokens == incoming.tokens[: len(held.tokens)] or prompt == incoming.tokens:
                return
        free = [other for other in self.free if other not in (stream, busy)]
        empty = [other for other in free if other not in ages]
        victim = max(empty) if empty else min(free, key=ages.__getitem__, default=-1)
        if victim < 0 or (victim in ages and ages[victim] > ages[stream]):
            return
        self._lib.llama_memory_seq_cp(self._lib.llama_get_memory(self._ctx), stream, victim, -1, -1)
        self.kept.pop(victim, None)  # the victim's content is gone; the moved one counts as kept now (newest)
        self.kept[victim] = held
