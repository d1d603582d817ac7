"""Fair sharing of a task executor's sequence slots between tenants.

An engine runs what it is given, first come first served: a tenant that sends 256 sequences puts another
tenant's 8-token request behind all of them. So the gateway gives each TE at most `slots` sequences at once and
keeps the rest here, one queue per tenant, released round-robin across tenants as slots free up. No tenant may
hold more than `tenant_cap` slots, so a newcomer's request starts at once instead of after a wave of the flood
(the engine cannot pre-empt a running sequence). A lone tenant still gets `tenant_cap` slots: a batch that size
runs nearly as fast as a full one.

Work from the batch API runs at low priority: a free slot goes to a waiting interactive sequence first, and to a
batch line only when no interactive one may take it. The priority is the caller's, not the request's, so it rides
in a context variable (`PRIORITY`) that the batch runner sets around its calls into the ordinary request path.
"""

from __future__ import annotations

import asyncio
import math
from collections import Counter, OrderedDict, deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from contextvars import ContextVar
from typing import Literal

Priority = Literal["interactive", "batch"]
PRIORITY: ContextVar[Priority] = ContextVar("headwater_priority", default="interactive")
"""The priority of the sequences the current task asks for (the batch runner sets `batch`)."""


class FairQueue:
    """Round-robin across tenants over a fixed number of slots, with a cap per tenant."""

    def __init__(self, slots: int, tenant_share: float = 1.0) -> None:
        self.slots = slots
        self.tenant_cap = max(1, math.floor(slots * tenant_share))
        self.running: Counter[str] = Counter()
        self._queues: dict[Priority, OrderedDict[str, deque[asyncio.Future[None]]]] = {
            "interactive": OrderedDict(),
            "batch": OrderedDict(),
        }

    @property
    def in_use(self) -> int:
        return sum(self.running.values())

    @property
    def waiting(self) -> int:
        return sum(len(queue) for waiting in self._queues.values() for queue in waiting.values())

    @asynccontextmanager
    async def slot(self, tenant: str) -> AsyncIterator[None]:
        """Hold one slot for the block; waits for its turn among the tenants that are waiting."""
        granted: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        waiting = self._queues[PRIORITY.get()]
        waiting.setdefault(tenant, deque()).append(granted)
        self._grant()
        try:
            await granted
        except asyncio.CancelledError:
            if granted.done() and not granted.cancelled():
                self._free(tenant)  # granted just as the waiter was cancelled: give the slot back
            else:
                self._forget(waiting, tenant, granted)
            raise
        try:
            yield
        finally:
            self._free(tenant)

    def _free(self, tenant: str) -> None:
        self.running[tenant] -= 1
        if self.running[tenant] <= 0:
            del self.running[tenant]
        self._grant()

    @staticmethod
    def _forget(
        waiting: OrderedDict[str, deque[asyncio.Future[None]]], tenant: str, waiter: asyncio.Future[None]
    ) -> None:
        queue = waiting.get(tenant)
        if queue is not None and waiter in queue:
            queue.remove(waiter)
            if not queue:
                del waiting[tenant]

    def _grant(self) -> None:
        """Give free slots to waiting tenants: interactive before batch, then the tenant holding fewest slots
        first, ties in turn (a served tenant goes to the back of the line)."""
        while self.in_use < self.slots:
            waiting, eligible = next(
                (
                    (waiting, eligible)
                    for waiting in self._queues.values()
                    if (eligible := [t for t in waiting if self.running[t] < self.tenant_cap])
                ),
                (None, []),
            )
            if waiting is None:
                return
            tenant = min(eligible, key=lambda t: self.running[t])
            queue = waiting.pop(tenant)
            waiter = queue.popleft()
            if queue:
                waiting[tenant] = queue  # re-inserted at the end: round-robin
            if waiter.cancelled():
                continue
            self.running[tenant] += 1
            waiter.set_result(None)
