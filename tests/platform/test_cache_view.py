"""The gateway's cache view of a TE: the reported blocks, and the prompts routed there and still running (counted
for routing until they end, never as hits)."""

from __future__ import annotations

import asyncio
import time

from headwater.engine.prefix_cache import block_hashes
from headwater.engine.protocol import CacheEvents, EngineOutput, EngineRequest, SamplingParams
from headwater.platform.cache_view import EXPECTED_TTL_S, CacheView
from headwater.platform.scheduler import Scheduler
from headwater.platform.te_group import TEGroup

BLOCK = 32
PROMPT = list(range(200))  # 6 matchable blocks


def test_an_expected_prompt_counts_for_routing_until_it_is_settled_or_expires():
    view = CacheView()
    view.apply(CacheEvents(BLOCK, []))
    hashes = view.prompt_hashes(PROMPT, "acme")
    view.expect("r1", hashes)
    view.expect("r2", hashes[:2])
    assert view.matched_blocks(hashes) == 0, "an expected block is not a reported one"
    assert view.matched_blocks(hashes, expected=True) == 6
    view.settle("r1")
    assert view.matched_blocks(hashes, expected=True) == 2  # r2's shorter prompt still runs
    view.apply(CacheEvents(BLOCK, hashes[:4]))
    assert view.matched_blocks(hashes) == 4 and view.matched_blocks(hashes, expected=True) == 4
    view.settle("r2")
    view.settle("r2")  # twice is harmless
    view.expect("r3", hashes, now=time.monotonic() - EXPECTED_TTL_S - 1)  # never settled: it lapses
    assert view.matched_blocks(hashes, expected=True) == 4
    view.expect("r4", hashes)
    view.clear()
    assert view.matched_blocks(hashes, expected=True) == 0


class _FakeTE:
    """A ready TE that reports nothing until asked to, and counts its requests in flight as a real one does."""

    def __init__(self, name: str) -> None:
        self.name, self.in_flight, self.state = name, 0, "ready"
        self.cache_view = CacheView()
        self.cache_view.apply(CacheEvents(BLOCK, []))
        self.release = asyncio.Event()

    async def generate(self, request: EngineRequest):
        self.in_flight += 1
        try:
            await self.release.wait()
            yield EngineOutput(request.request_id, [1], [0.0], finish_reason="length")
        finally:
            self.in_flight -= 1


def test_requests_over_a_prefix_still_being_prefilled_follow_the_first():
    """Before the TE that took a new prefix reports it, later requests over it go there too (least load alone would
    send the second one to the other, idle TE, which would compute and cache the same prefix again); once the
    requests end, only what the TE reported counts."""

    async def scenario() -> list[str]:
        first, second = _FakeTE("first"), _FakeTE("second")
        group = TEGroup("m")
        group.executors.extend([first, second])
        group.scheduler = Scheduler("prefix")
        chosen: list[str] = []

        async def run(request_id: str, prompt: list[int]) -> None:
            request = EngineRequest(request_id, prompt, SamplingParams(), cache_salt="acme")
            async for _ in group.generate(request):
                pass

        async def start(request_id: str, prompt: list[int]) -> asyncio.Task[None]:
            before = {te.name: te.in_flight for te in (first, second)}
            task = asyncio.create_task(run(request_id, prompt))
            await asyncio.sleep(0.01)
            chosen.extend(te.name for te in (first, second) if te.in_flight > before[te.name])
            return task

        tasks = [await start(f"r{index}", PROMPT + [1000 + index]) for index in range(3)]
        tasks.append(await start("other", [5000 + i for i in range(200)]))  # a new prefix: the idle TE
        assert first.cache_view.hits == 0, "a hit counted before the TE reported the blocks"
        first.release.set()
        second.release.set()
        await asyncio.gather(*tasks)
        hashes = first.cache_view.prompt_hashes(PROMPT, "acme")
        assert first.cache_view.matched_blocks(hashes, expected=True) == 0, "the routed prompts were not settled"
        return chosen

    assert asyncio.run(scenario()) == ["first", "first", "first", "second"]


def test_a_reported_prefix_is_a_hit_and_an_expected_one_is_not():
    view = CacheView()
    view.apply(CacheEvents(BLOCK, block_hashes(PROMPT, BLOCK, "acme")))
    group = TEGroup("m")
    te = _FakeTE("only")
    te.cache_view = view
    group.executors.append(te)
    group.scheduler = Scheduler("prefix")
    for salt in ("acme", "globex", "globex"):
        asyncio.run(group.executor(request=EngineRequest("r-" + salt, PROMPT, SamplingParams(), cache_salt=salt)))
    assert (view.queries, view.hits) == (3, 1)
