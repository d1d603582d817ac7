"""Tenant-salted prefix caching and KV-cache events for transformers' paged cache.

transformers hashes each full KV block as blake2b(parent hash, block tokens), a chain from the first block, and
shares blocks whose hash matches. Here the chain starts from the request's salt (its tenant) instead of nothing,
so two tenants with the same prompt never share, match or time each other's blocks (vLLM's `cache_salt`). The
same `block_hashes` function names blocks on both sides: the engine reports the hashes it stored and evicted
(`CacheEvents`, as vLLM's KV events) and the gateway computes a prompt's chain to look them up
(`headwater.platform.cache_view`).
"""

from __future__ import annotations

import hashlib
import queue
import time
from array import array
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from headwater.engine.protocol import CacheEvents


def chain_hash(parent: int | None, tokens: Sequence[int]) -> int:
    """The hash of one block from its parent's and its tokens: transformers' `compute_block_hash`, byte for byte."""
    digest = hashlib.blake2b(digest_size=8)
    if parent is not None:
        digest.update(parent.to_bytes(8, "little", signed=False))
    digest.update(array("i", tokens).tobytes())
    return int.from_bytes(digest.digest(), "little", signed=False)


def salt_root(salt: str | None) -> int | None:
    """Where a salted chain starts (None, transformers' own start, for an unsalted request)."""
    if not salt:
        return None
    digest = hashlib.blake2b(b"headwater-cache-salt\0" + salt.encode(), digest_size=8)
    return int.from_bytes(digest.digest(), "little", signed=False)


def block_hashes(token_ids: Sequence[int], block_size: int, salt: str | None, matchable: bool = False) -> list[int]:
    """The hash chain of the full blocks of `token_ids`. `matchable` keeps only the blocks a prompt can reuse:
    transformers always recomputes the last prompt token, so a block holding it is never matched."""
    count = (len(token_ids) - 1 if matchable else len(token_ids)) // block_size
    return list(_chain(token_ids, block_size, salt_root(salt), count))


_Pin = tuple[float, tuple[int | None, tuple[int, ...]], list[tuple[Any, int]]]
"""(until, (salt root, prompt), [(allocator, block id)]): a finished request's prompt blocks held for its TTL."""


class BlockChanges:
    """A cache's block hashes as `CacheEvents`: stored and evicted against what the previous report said (the first
    report resets whatever a router knew of this engine)."""

    def __init__(self, block_size: int) -> None:
        self.block_size = block_size
        self._known: set[int] = set()
        self._reset = True

    def events(self, now: set[int]) -> CacheEvents:
        stored, evicted = sorted(now - self._known), sorted(self._known - now)
        reset, self._reset, self._known = self._reset, False, now
        return CacheEvents(self.block_size, stored, evicted, reset)


class SaltedPrefixCache:
    """Installs salted hashing into a `PagedAttentionCache`, turns its ledger into `CacheEvents`, pins the blocks of
    requests that ask for it (`EngineRequest.pin_s`: a cached context's TTL), and evicts least recently used first.

    Eviction: transformers' own `evict_cached_blocks` drops every cached block whenever free memory falls under the
    scheduler's safety margin, so a cache a little smaller than its working set keeps almost nothing (measured: 16
    hits in 64 shared-prefix requests whose 8 prefixes fit 2 TEs' caches exactly). Here it evicts only what is
    needed, least recently released first (the ledger's `cached_blocks` is in release order, and a block reused by a
    prompt leaves it and comes back at the end), as vLLM's free-block queue does: up to the safety margin when under
    it, else (a request still does not fit) one engine step's worth of blocks more than is free now.

    A pin holds one reference on each block of the finished request's prompt chain, so eviction (which takes only
    unreferenced cached blocks) passes them over; when the pin's time is up the reference is released and the
    blocks are evictable like any prefix. Pins are taken and released on the generation thread, just before the
    cache matches a prompt or evicts.

    The cache's matching and hashing run on the generation thread; `add`/`forget` and `events` on others. Every
    shared structure is a dict whose single operations are atomic in CPython, and `events` copies the ledger's keys
    in one C-level call, so no lock is taken on the hot path.
    """

    def __init__(self, cache: Any, safety_margin: float = 0.0) -> None:
        """`cache`: transformers' PagedAttentionCache (untyped upstream); `safety_margin`: its scheduler's, the free
        share under which it evicts before admitting a new prefill."""
        self._cache = cache
        self._safety_margin = safety_margin
        self._roots: dict[str, int | None] = {}
        self._matched: dict[str, int] = {}
        self._current_root: int | None = None
        self._allocators = list(cache.cache_allocators.values())
        self.block_size = int(self._allocators[0].tokens_per_page)
        self._changes = BlockChanges(self.block_size)
        self._wanted: dict[str, tuple[list[int], int | None, float]] = {}
        self._finished: queue.SimpleQueue[tuple[list[int], int | None, float]] = queue.SimpleQueue()
        self._unpins: queue.SimpleQueue[tuple[int | None, tuple[int, ...]]] = queue.SimpleQueue()
        self._pins: list[_Pin] = []
        """Touched on the generation thread only."""
        self._install()

    def add(self, request_id: str, salt: str | None, prompt_ids: list[int] | None = None, pin_s: float = 0.0) -> None:
        root = salt_root(salt)
        self._roots[request_id] = root
        if pin_s > 0 and prompt_ids:
            self._wanted[request_id] = (list(prompt_ids), root, pin_s)

    def forget(self, request_id: str) -> int:
        """Drop a finished request (its pin, if it asked for one, is taken next); returns its prompt tokens reused
        from the cache."""
        self._roots.pop(request_id, None)
        wanted = self._wanted.pop(request_id, None)
        if wanted is not None:
            self._finished.put(wanted)
        return self._matched.pop(request_id, 0)

    def unpin(self, prompt_ids: list[int], salt: str | None) -> None:
        """Release the pin of this prompt (one, if it was pinned twice) before its time: its context was deleted.
        Done on the generation thread before the next prefix match or eviction, so before its blocks are needed."""
        self._unpins.put((salt_root(salt), tuple(prompt_ids)))

    @property
    def pinned_blocks(self) -> int:
        return sum(len(blocks) for _, _, blocks in self._pins)

    def settle_pins(self, now: float | None = None) -> None:
        """Take the pins of finished requests and release those unpinned or whose time is up (generation thread)."""
        now = time.monotonic() if now is None else now
        while not self._finished.empty():
            prompt_ids, root, pin_s = self._finished.get()
            self._pins.append((now + pin_s, (root, tuple(prompt_ids)), self._acquire_chain(prompt_ids, root)))
        while not self._unpins.empty():
            key = self._unpins.get()
            self._release([pin for pin in self._pins if pin[1] == key][:1])
        self._release([pin for pin in self._pins if pin[0] <= now])

    def _release(self, pins: list[_Pin]) -> None:
        for pin in pins:
            self._pins.remove(pin)
            for allocator, block_id in pin[2]:
                if allocator.ledger.release(block_id):
                    allocator.pool.free_blocks(allocator.index, [block_id])

    def _acquire_chain(self, prompt_ids: list[int], root: int | None) -> list[tuple[Any, int]]:
        held = []
        for allocator in self._allocators:
            size = allocator.tokens_per_page
            for block_hash in _chain(prompt_ids, size, root, len(prompt_ids) // size):
                block_id = allocator.ledger.hash_to_block.get(block_hash)
                if block_id is None:
                    break
                allocator.ledger.acquire(block_id)
                held.append((allocator, block_id))
        return held

    def matched(self, request_id: str) -> int:
        return self._matched.get(request_id, 0)

    def events(self) -> CacheEvents:
        """Blocks hashed (stored) and un-hashed (evicted) since the previous call, from the first allocator."""
        return self._changes.events(set(self._allocators[0].ledger.hash_to_block))

    def evict_lru(self) -> bool:
        """Evict cached blocks, least recently released first, until the free share of the cache reaches the safety
        margin, or, when it already has (the scheduler could not fit a request), until one engine step's worth of
        blocks more than now is free (all of them if there are fewer); True if any block was evicted."""
        free = self._cache.compute_free_capacity()
        target = self._safety_margin if free < self._safety_margin else free + self._step_share()
        evicted = False
        while free < target:
            victims = [(allocator, next(iter(allocator.ledger.cached_blocks), None)) for allocator in self._allocators]
            victims = [(allocator, block_id) for allocator, block_id in victims if block_id is not None]
            if not victims:
                break
            for allocator, block_id in victims:
                del allocator.ledger.cached_blocks[block_id]
                block_hash = allocator.ledger.block_to_hash.pop(block_id)
                allocator.ledger.hash_to_block.pop(block_hash, None)
                allocator.pool.free_blocks(allocator.index, [block_id])
            evicted = True
            free = self._cache.compute_free_capacity()
        return evicted

    def _step_share(self) -> float:
        """The share of the cache one engine step can fill with new KV (its token budget), 1 when unknown."""
        tokens, blocks = getattr(self._cache, "max_batch_tokens", 0), getattr(self._cache, "num_blocks", 0)
        if not tokens or not blocks:
            return 1.0
        return min(1.0, (tokens / self.block_size + 1) / blocks)

    def _install(self) -> None:
        search = self._cache.search_prefix_match

        def evict_cached_blocks() -> bool:
            self.settle_pins()
            return self.evict_lru()

        def search_prefix_match(request_id: str, prompt_ids: list[int]) -> int:
            self.settle_pins()
            self._current_root = self._roots.get(request_id)
            matched = int(search(request_id, prompt_ids))
            self._matched.setdefault(request_id, matched)
            return matched

        self._cache.search_prefix_match = search_prefix_match
        self._cache.evict_cached_blocks = evict_cached_blocks
        for allocator in self._allocators:
            allocator.match_prefix_blocks = self._matcher(allocator)
            allocator.mark_complete_blocks = self._marker(allocator)

    def _matcher(self, allocator: Any) -> Callable[[list[int]], list[int]]:
        """A bound replacement for the allocator's `match_prefix_blocks`, its chain started from the salt."""

        def match_prefix_blocks(prompt_ids: list[int]) -> list[int]:
            blocks = []
            size = allocator.tokens_per_page
            for block_hash in _chain(prompt_ids, size, self._current_root, (len(prompt_ids) - 1) // size):
                block_id = allocator.ledger.hash_to_block.get(block_hash)
                if block_id is None:
                    break
                blocks.append(block_id)
            return blocks

        return match_prefix_blocks

    def _marker(self, allocator: Any) -> Callable[[str, list[int], int], None]:
        """transformers' `mark_complete_blocks`, with the chain started from the request's salt."""

        def mark_complete_blocks(request_id: str, token_ids: list[int], new_blocks: int) -> None:
            table = allocator.block_table[request_id]
            size, ledger = allocator.tokens_per_page, allocator.ledger
            parent = self._roots.get(request_id)
            for i, block_id in enumerate(table):
                block_hash = ledger.block_to_hash.get(block_id)
                if block_hash is None:
                    tokens = token_ids[i * size : (i + 1) * size]
                    if new_blocks == 0 or len(tokens) < size:
                        break
                    block_hash = chain_hash(parent, tokens)
                    new_blocks -= 1
                    identical = ledger.register_new_hash(block_id, block_hash)
                    if identical is not None:  # same content already cached: adopt it, free the duplicate
                        ledger.acquire(identical)
                        table[i] = identical
                        if ledger.release(block_id):
                            allocator.pool.free_blocks(allocator.index, [block_id])
                parent = block_hash

        return mark_complete_blocks


def _chain(token_ids: Sequence[int], size: int, root: int | None, count: int) -> Iterator[int]:
    parent = root
    for index in range(max(0, count)):
        parent = chain_hash(parent, token_ids[index * size : (index + 1) * size])
        yield parent
