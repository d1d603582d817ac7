"""Tenant-salted prefix caching and KV-cache events: one tenant's blocks are never another's, events are exact."""

from __future__ import annotations

import time
from types import SimpleNamespace

import pytest
from transformers.generation.continuous_batching.cache_allocators.cache_allocator import compute_block_hash

from headwater.engine.prefix_cache import SaltedPrefixCache, block_hashes, chain_hash, salt_root
from headwater.engine.protocol import EngineRequest, SamplingParams
from headwater.engine.transformers_engine import EngineConfig, TransformersEngine
from headwater.models.loading import load_model, load_tokenizer
from headwater.platform.cache_view import CacheView

BLOCK = 16


@pytest.fixture(scope="module")
def engine(tiny_chat_path):
    model = load_model(str(tiny_chat_path))
    tokenizer = load_tokenizer(str(tiny_chat_path))
    config = EngineConfig(max_batch_tokens=128, kv_blocks=64, kv_block_size=BLOCK)
    running = TransformersEngine(model, [tokenizer.eos_token_id], config, tokenizer)
    running.start()
    yield running
    running.shutdown()


def _run(engine, request_id: str, prompt: list[int], salt: str | None, pin_s: float = 0.0) -> int:
    """Generate 2 tokens greedily; returns the prompt tokens the engine reused."""
    params = SamplingParams(max_tokens=2, temperature=0)
    engine.add_request(EngineRequest(request_id, prompt, params, [], salt, pin_s))
    cached, deadline = None, time.monotonic() + 60
    while time.monotonic() < deadline:
        for output in engine.get_outputs(0.5):
            if output.request_id == request_id:
                cached = output.cached_tokens if cached is None else cached
                if output.finish_reason:
                    return cached
    raise AssertionError("the engine did not finish in time")


def test_chain_hash_is_transformers_block_hash():
    assert chain_hash(None, [1, 2, 3]) == compute_block_hash(None, [1, 2, 3])
    assert chain_hash(7, [4, 5]) == compute_block_hash(7, [4, 5])
    assert salt_root(None) is None and salt_root("") is None
    assert salt_root("acme") != salt_root("globex")


def test_block_hashes_chain_from_the_salt():
    prompt = list(range(40))
    plain, salted = block_hashes(prompt, BLOCK, None), block_hashes(prompt, BLOCK, "acme")
    assert len(plain) == 2 and plain[1] == chain_hash(plain[0], prompt[16:32])
    assert not set(plain) & set(salted)
    assert len(block_hashes(list(range(32)), BLOCK, None, matchable=True)) == 1  # the last token is recomputed


def test_tenants_never_share_blocks_and_a_tenant_reuses_its_own(engine):
    prompt = [(7 * i) % 300 + 3 for i in range(50)]
    view = CacheView()
    view.apply(engine.cache_events())
    assert _run(engine, "a1", prompt, "acme") == 0
    assert _run(engine, "b1", prompt, "globex") == 0, "another tenant's prompt hit acme's cache"
    assert _run(engine, "a2", prompt, "acme") == 48, "the same tenant did not reuse its own blocks"
    view.apply(engine.cache_events())
    acme, globex = block_hashes(prompt, BLOCK, "acme"), block_hashes(prompt, BLOCK, "globex")
    assert view.matched_blocks(acme) == 3 and view.matched_blocks(globex) == 3
    assert not set(acme) & set(globex)
    assert view.matched_blocks(block_hashes(prompt, BLOCK, "initech")) == 0


def _fake_cache(hashes: dict[int, int]) -> SimpleNamespace:
    ledger = SimpleNamespace(hash_to_block=hashes, block_to_hash={})
    allocator = SimpleNamespace(tokens_per_page=BLOCK, ledger=ledger, block_table={})
    return SimpleNamespace(
        cache_allocators={"full": allocator}, search_prefix_match=lambda rid, ids: 0, evict_cached_blocks=lambda: False
    )


def test_events_are_the_ledger_diff_and_the_view_replays_them():
    hashes = {11: 0, 12: 1}
    prefixes = SaltedPrefixCache(_fake_cache(hashes))
    first = prefixes.events()
    assert first.reset and first.stored == [11, 12] and first.evicted == []
    del hashes[11]
    hashes[13] = 2
    second = prefixes.events()
    assert not second.reset and second.stored == [13] and second.evicted == [11]
    view = CacheView()
    view.blocks.add(99)  # stale: the reset drops it
    view.apply(first)
    view.apply(second)
    assert view.blocks == {12, 13} and view.block_size == BLOCK
    assert prefixes.events().stored == [] and prefixes.events().evicted == []


def test_a_pinned_prompt_survives_eviction_and_an_unpinned_one_does_not(engine):
    pinned, unpinned = [(3 * i) % 250 + 5 for i in range(64)], [(11 * i) % 250 + 5 for i in range(64)]
    assert _run(engine, "pin", pinned, "acme", pin_s=600) == 0
    assert _run(engine, "nopin", unpinned, "acme") == 0
    for flood in range(3):  # 600-token prompts: the 64-block cache must evict what it can
        _run(engine, f"flood{flood}", [(flood * 37 + 13 * i) % 250 + 5 for i in range(600)], "initech")
    assert _run(engine, "nopin-again", unpinned, "acme") == 0, "the flood did not evict the unpinned prefix"
    assert _run(engine, "pin-again", pinned, "acme") == 48, "the pinned prefix was evicted"


def test_a_pin_is_released_when_its_time_is_up():
    ledger = SimpleNamespace(hash_to_block={}, block_to_hash={}, acquired=[], released=[])
    ledger.acquire = ledger.acquired.append
    ledger.release = lambda block: ledger.released.append(block) or True
    freed: list[int] = []
    pool = SimpleNamespace(free_blocks=lambda index, blocks: freed.extend(blocks))
    allocator = SimpleNamespace(tokens_per_page=BLOCK, ledger=ledger, block_table={}, pool=pool, index=0)
    cache = SimpleNamespace(
        cache_allocators={"full": allocator}, search_prefix_match=lambda rid, ids: 0, evict_cached_blocks=lambda: False
    )
    prefixes = SaltedPrefixCache(cache)
    prompt = list(range(40))
    for block_id, block_hash in enumerate(block_hashes(prompt, BLOCK, "acme")):
        ledger.hash_to_block[block_hash] = block_id
    prefixes.add("ctx", "acme", prompt, pin_s=10)
    prefixes.forget("ctx")
    prefixes.settle_pins(now=100.0)
    assert ledger.acquired == [0, 1] and prefixes.pinned_blocks == 2
    prefixes.settle_pins(now=105.0)
    assert ledger.released == []
    prefixes.settle_pins(now=110.0)
    assert ledger.released == [0, 1] and freed == [0, 1] and prefixes.pinned_blocks == 0


def test_an_unpinned_prompt_is_released_before_its_time_and_only_once():
    ledger = SimpleNamespace(hash_to_block={}, block_to_hash={}, acquired=[], released=[])
    ledger.acquire = ledger.acquired.append
    ledger.release = lambda block: ledger.released.append(block) or False
    allocator = SimpleNamespace(tokens_per_page=BLOCK, ledger=ledger, block_table={}, pool=None, index=0)
    cache = SimpleNamespace(
        cache_allocators={"full": allocator}, search_prefix_match=lambda rid, ids: 0, evict_cached_blocks=lambda: False
    )
    prefixes = SaltedPrefixCache(cache)
    prompt = list(range(40))
    for block_id, block_hash in enumerate(block_hashes(prompt, BLOCK, "acme")):
        ledger.hash_to_block[block_hash] = block_id
    for request_id in ("ctx-a", "ctx-b"):  # the same context made twice: two pins on the same blocks
        prefixes.add(request_id, "acme", prompt, pin_s=600)
        prefixes.forget(request_id)
    prefixes.unpin(prompt, "globex")  # another tenant's identical prompt names no pin here
    prefixes.unpin(prompt[:32], "acme")  # nor does a shorter prompt
    prefixes.settle_pins(now=100.0)
    assert ledger.acquired == [0, 1, 0, 1] and ledger.released == [] and prefixes.pinned_blocks == 4
    prefixes.unpin(prompt, "acme")
    prefixes.settle_pins(now=101.0)
    assert ledger.released == [0, 1] and prefixes.pinned_blocks == 2


def test_an_unpinned_prompt_is_evicted_like_any_prefix(engine):
    pinned = [(7 * i) % 250 + 5 for i in range(64)]
    assert _run(engine, "unpin", pinned, "acme", pin_s=600) == 0
    engine.unpin(pinned, "acme")
    for flood in range(3):
        _run(engine, f"unpin-flood{flood}", [(flood * 41 + 17 * i) % 250 + 5 for i in range(600)], "initech")
    assert _run(engine, "unpin-again", pinned, "acme") == 0, "the unpinned prefix survived the flood"


class _Ledger(SimpleNamespace):
    """transformers' BlockLedger as eviction sees it: cached blocks in release order, and their hashes."""


def _lru_cache(cached: int, in_use: int, free: int, margin: float) -> tuple[SaltedPrefixCache, SimpleNamespace]:
    total = cached + in_use + free
    ledger = _Ledger(cached_blocks=dict.fromkeys(range(cached)), block_to_hash={}, hash_to_block={})
    for block_id in range(cached):
        ledger.block_to_hash[block_id], ledger.hash_to_block[1000 + block_id] = 1000 + block_id, block_id
    free_ids = set(range(total - free, total))
    pool = SimpleNamespace(free_blocks=lambda index, blocks: free_ids.update(blocks))
    allocator = SimpleNamespace(tokens_per_page=BLOCK, ledger=ledger, block_table={}, pool=pool, index=0)

    def evict_all() -> bool:  # transformers' own: every cached block at once
        evicted = list(ledger.cached_blocks)
        ledger.cached_blocks.clear()
        for block_id in evicted:
            ledger.hash_to_block.pop(ledger.block_to_hash.pop(block_id))
        free_ids.update(evicted)
        return bool(evicted)

    cache = SimpleNamespace(
        cache_allocators={"full": allocator},
        search_prefix_match=lambda rid, ids: 0,
        evict_cached_blocks=evict_all,
        compute_free_capacity=lambda: len(free_ids) / total,
        num_blocks=total,
        max_batch_tokens=2 * BLOCK,
    )
    return SaltedPrefixCache(cache, safety_margin=margin), cache


def test_eviction_frees_the_least_recently_used_blocks_it_needs_not_the_whole_cache():
    prefixes, cache = _lru_cache(cached=12, in_use=6, free=2, margin=0.25)  # 20 blocks, margin: 5 free
    ledger = cache.cache_allocators["full"].ledger
    prefixes.events()
    assert cache.evict_cached_blocks() is True
    assert list(ledger.cached_blocks) == list(range(3, 12)), "not just the 3 oldest blocks up to the margin"
    assert prefixes.events().evicted == [1000, 1001, 1002]
    # at the margin (a request still did not fit): one engine step's worth more, 2 blocks of tokens + 1
    assert cache.evict_cached_blocks() is True and list(ledger.cached_blocks) == list(range(6, 12))
    ledger.cached_blocks[6] = ledger.cached_blocks.pop(6)  # block 6 reused and released again: now the newest
    cache.evict_cached_blocks()
    assert list(ledger.cached_blocks) == [10, 11, 6] and set(ledger.hash_to_block.values()) == {6, 10, 11}
    prefixes, cache = _lru_cache(cached=0, in_use=18, free=2, margin=0.25)
    assert cache.evict_cached_blocks() is False


def test_the_engine_keeps_its_recent_prefixes_under_memory_pressure(tiny_chat_path):
    """A prompt needing a third of a full cache evicts the oldest prefix, not every one (transformers' own eviction
    empties the cache whenever free memory falls under its scheduler's safety margin)."""
    model = load_model(str(tiny_chat_path))
    tokenizer = load_tokenizer(str(tiny_chat_path))
    config = EngineConfig(max_batch_tokens=128, kv_blocks=64, kv_block_size=BLOCK)
    engine = TransformersEngine(model, [tokenizer.eos_token_id], config, tokenizer)
    engine.start()
    try:
        prompts = [[(k * 31 + 7 * i) % 250 + 5 for i in range(160)] for k in range(5)]  # 10 blocks each
        for index, prompt in enumerate(prompts):
            assert _run(engine, f"lru{index}", prompt, "acme") == 0
        assert _run(engine, "lru-flood", [(13 * i) % 250 + 5 for i in range(360)], "initech") == 0
        assert _run(engine, "lru-newest", prompts[-1], "acme") == 144, "the newest prefix was evicted"
        assert _run(engine, "lru-oldest", prompts[0], "acme") == 0, "the flood evicted nothing: no pressure tested"
    finally:
        engine.shutdown()
