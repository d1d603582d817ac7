"""The fair queue: slots bounded, a cap per tenant, round-robin across waiting tenants, cancellations clean."""

from __future__ import annotations

import asyncio

import pytest

from headwater.platform.fair_queue import PRIORITY, FairQueue


async def _hold(queue: FairQueue, tenant: str, order: list[str], release: asyncio.Event) -> None:
    async with queue.slot(tenant):
        order.append(tenant)
        await release.wait()


def test_a_flooding_tenant_cannot_take_every_slot_and_others_go_first():
    async def scenario() -> tuple[list[str], FairQueue]:
        queue, order, release = FairQueue(slots=4, tenant_share=0.75), [], asyncio.Event()
        flood = [asyncio.create_task(_hold(queue, "big", order, release)) for _ in range(10)]
        await asyncio.sleep(0)
        assert queue.running["big"] == 3 and queue.waiting == 7  # capped below the 4 slots
        small = asyncio.create_task(_hold(queue, "small", order, release))
        await asyncio.sleep(0)
        assert order[-1] == "small"  # the free slot went to the newcomer at once
        release.set()
        await asyncio.gather(*flood, small)
        return order, queue

    order, queue = asyncio.run(scenario())
    assert order.count("big") == 10 and queue.in_use == 0 and queue.waiting == 0


def test_waiting_tenants_are_served_in_turn():
    async def scenario() -> list[str]:
        queue, order = FairQueue(slots=1), []
        gate = asyncio.Event()
        first = asyncio.create_task(_hold(queue, "a", order, gate))
        await asyncio.sleep(0)
        releases = {name: asyncio.Event() for name in ("a2", "a3", "b1", "b2", "c1")}
        tasks = [
            asyncio.create_task(_hold(queue, tenant, order, releases[key]))
            for key, tenant in (("a2", "a"), ("a3", "a"), ("b1", "b"), ("b2", "b"), ("c1", "c"))
        ]
        await asyncio.sleep(0)
        gate.set()
        for event in releases.values():
            event.set()
        await asyncio.gather(first, *tasks)
        return order

    assert asyncio.run(scenario()) == ["a", "a", "b", "c", "a", "b"]


def test_a_cancelled_waiter_leaves_no_trace():
    async def scenario() -> FairQueue:
        queue, order, release = FairQueue(slots=1), [], asyncio.Event()
        holder = asyncio.create_task(_hold(queue, "a", order, release))
        await asyncio.sleep(0)
        waiter = asyncio.create_task(_hold(queue, "b", order, release))
        await asyncio.sleep(0)
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        release.set()
        await holder
        return queue

    queue = asyncio.run(scenario())
    assert queue.in_use == 0 and queue.waiting == 0


def test_interactive_sequences_go_before_waiting_batch_lines():
    async def batch_hold(queue: FairQueue, tenant: str, order: list[str], release: asyncio.Event) -> None:
        PRIORITY.set("batch")  # this task's context only, as the batch runner does
        await _hold(queue, tenant + "-batch", order, release)

    async def scenario() -> list[str]:
        queue, order, release = FairQueue(slots=1), [], asyncio.Event()
        holder = asyncio.create_task(_hold(queue, "x", order, release))
        await asyncio.sleep(0)
        lines = [asyncio.create_task(batch_hold(queue, "a", order, release)) for _ in range(2)]
        await asyncio.sleep(0)
        chat = asyncio.create_task(_hold(queue, "b", order, release))  # arrives after the batch lines
        await asyncio.sleep(0)
        release.set()
        await asyncio.gather(holder, *lines, chat)
        assert queue.waiting == 0 and queue.in_use == 0
        return order

    assert asyncio.run(scenario()) == ["x", "b", "a-batch", "a-batch"]
