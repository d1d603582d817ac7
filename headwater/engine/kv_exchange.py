"""Prefill/decode disaggregation inside transformers' paged cache: export a prompt's KV blocks, import them elsewhere.

DeepFlow (arXiv 2501.14417, §4) runs a prompt's prefill on one TE and its decode on another, moving the KV between
them. Here the move is whole paged-cache blocks, which already carry names: their tenant-salted hash chain
(`headwater.engine.prefix_cache`). A prefill engine copies the full blocks of a finished request's prompt out of the
cache just before transformers frees them (on the generation thread, so no other request can have reused them);
a decode engine writes them into free blocks of its own cache and registers them as cached prefix blocks under the
same hashes, just before the prompt is matched. The decode request (prompt + first token) then hits the prefix
cache for every full block, and only the tail (under one block) and the first token are computed again, which also
gives the decode its first logits: no model change, and the decode TE's cache and scheduler stay transformers' own.

Only an engine whose cache shares prefix blocks (every layer full attention, `prefix_sharing` on) exports or
imports; any other hand-off is empty and the decode TE recomputes the prompt: slower, never wrong.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import torch

from headwater.engine.kv_transfer import KVTransport
from headwater.engine.prefix_cache import block_hashes
from headwater.engine.protocol import KVHandoff

logger = logging.getLogger(__name__)


class PagedKVExchange:
    """Exports and imports the prompt blocks of requests through one `PagedAttentionCache` and a `KVTransport`.

    `expect_export`, `stage_import` and `forget` run on the thread that adds requests, `publish` and `import_seconds`
    on the one that reads outputs; the copies themselves run on the generation thread, inside the cache's own
    `free_blocks` and `search_prefix_match` (wrapped here). Shared state is dicts with single atomic operations.
    """

    def __init__(self, cache: Any, transport: KVTransport) -> None:  # transformers' PagedAttentionCache (untyped)
        self._cache = cache
        self.transport = transport
        allocators = list(cache.cache_allocators.values())
        self._allocator: Any = allocators[0] if cache.use_prefix_sharing and len(allocators) == 1 else None
        """The full-attention allocator whose blocks move (None: this cache shares no prefix blocks)."""
        self.block_size = int(allocators[0].tokens_per_page)
        self._exports: dict[str, list[int]] = {}
        self._captured: dict[str, tuple[list[int], torch.Tensor, float]] = {}
        self._imports: dict[str, tuple[list[int], torch.Tensor]] = {}
        self._import_s: dict[str, float] = {}
        self._install()

    @property
    def bytes_per_block(self) -> int:
        return int(self._allocator.bytes_per_block) if self._allocator is not None else 0

    def expect_export(self, request_id: str, prompt_ids: list[int], salt: str | None) -> None:
        """Copy this request's full prompt blocks out when it finishes (a prefill TE's request)."""
        if self._allocator is not None:
            self._exports[request_id] = block_hashes(prompt_ids, self.block_size, salt)

    def publish(self, request_id: str) -> tuple[KVHandoff | None, float]:
        """Hand the copied blocks of a finished request to the transport: the message naming them, and the seconds
        the export took (the copy out of the cache plus the write)."""
        self._exports.pop(request_id, None)
        captured = self._captured.pop(request_id, None)
        if captured is None:
            return None, 0.0
        hashes, blocks, seconds = captured
        started = time.perf_counter()
        template = KVHandoff("", "", self.block_size, hashes, self.bytes_per_block)
        handoff = self.transport.put(request_id, blocks, template)
        return handoff, seconds + time.perf_counter() - started

    def stage_import(self, request_id: str, handoff: KVHandoff, prompt_ids: list[int], salt: str | None) -> None:
        """Read a hand-off now (freeing its storage) and queue its blocks for the request's prefix match. Blocks
        that do not chain this prompt under this salt, or a layout that differs, are dropped (recomputed)."""
        started = time.perf_counter()
        blocks = self.transport.take(handoff)
        wanted = block_hashes(prompt_ids, self.block_size, salt, matchable=True)
        usable = 0
        while usable < min(len(wanted), len(handoff.block_hashes)) and wanted[usable] == handoff.block_hashes[usable]:
            usable += 1
        compatible = handoff.block_size == self.block_size and handoff.bytes_per_block == self.bytes_per_block
        if blocks is None or not compatible or self._allocator is None or usable == 0:
            if blocks is not None:
                logger.warning("KV hand-off for %s does not fit this cache; the prompt is recomputed", request_id)
            return
        self._imports[request_id] = (wanted[:usable], blocks[:usable])
        self._import_s[request_id] = time.perf_counter() - started

    def import_seconds(self, request_id: str) -> float:
        """Seconds the request's import took (read and copy into the cache), reported once."""
        return self._import_s.pop(request_id, 0.0)

    def forget(self, request_id: str) -> None:
        """Drop whatever is pending for an aborted request."""
        self._exports.pop(request_id, None)
        self._captured.pop(request_id, None)
        self._imports.pop(request_id, None)
        self._import_s.pop(request_id, None)

    def _install(self) -> None:
        free_blocks, search = self._cache.free_blocks, self._cache.search_prefix_match

        def free_blocks_after_export(request_id: str, no_cache: bool = False) -> None:
            hashes = self._exports.pop(request_id, None)
            if hashes:
                self._capture(request_id, hashes)
            free_blocks(request_id, no_cache)

        def search_after_import(request_id: str, prompt_ids: list[int]) -> int:
            staged = self._imports.pop(request_id, None)
            if staged is not None:
                started = time.perf_counter()
                self._write(*staged)
                self._import_s[request_id] = self._import_s.get(request_id, 0.0) + time.perf_counter() - started
            return int(search(request_id, prompt_ids))

        self._cache.free_blocks = free_blocks_after_export
        self._cache.search_prefix_match = search_after_import

    def _capture(self, request_id: str, hashes: list[int]) -> None:
        """Copy the request's full prompt blocks out of the cache (generation thread, before they are freed)."""
        allocator = self._allocator
        started = time.perf_counter()
        table = allocator.block_table.get(request_id, [])[: len(hashes)]
        if not table:
            return
        index = torch.tensor(table, dtype=torch.long, device=allocator._copy_view.device)
        blocks = allocator._copy_view.index_select(0, index)
        self._captured[request_id] = (hashes[: len(table)], blocks, time.perf_counter() - started)

    def _write(self, hashes: list[int], blocks: torch.Tensor) -> None:
        """Write handed-off blocks into free cache blocks and register them as cached prefix blocks (generation
        thread). Blocks already cached under the same hash are kept; the chain stops where the cache is full."""
        allocator, pool = self._allocator, self._cache.pool
        ledger = allocator.ledger
        missing = [i for i, block_hash in enumerate(hashes) if block_hash not in ledger.hash_to_block]
        while pool.count_free_blocks(allocator.index) < len(missing) and pool.num_free_sectors > 0:
            pool.allocate_sector(allocator.index)
        # the chain is matched from its start: what does not fit is its end, never a gap in the middle
        missing = missing[: pool.count_free_blocks(allocator.index)]
        if not missing:
            return
        block_ids = pool.get_free_blocks(allocator.index, len(missing))
        view = allocator._copy_view
        index = torch.tensor(block_ids, dtype=torch.long, device=view.device)
        view.index_copy_(0, index, blocks[missing].to(view.device))
        for block_id, position in zip(block_ids, missing, strict=True):
            ledger.register_new_hash(block_id, hashes[position])
            ledger.cached_blocks[block_id] = None
