"""A TE group: the task executors serving one model, and the activator that holds requests while none is ready.

Requests go to the ready TE the model's routing policy picks (`headwater.platform.scheduler`, over the TEs'
sequences in flight and their exact cache views; draining TEs take none). When no TE is ready
(the model is at zero, or its only TE is starting or restarting) a request waits in the activator: a bounded
queue with a timeout, after which it gets a 503 with `Retry-After`. Waiting wakes the autoscaler, so a request
never fails just because its model was at zero.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable

from headwater.engine.protocol import EngineInfo, EngineRequest
from headwater.errors import EngineUnavailableError
from headwater.platform.executors.protocol import Executor
from headwater.platform.scheduler import Scheduler, TEState, longest_prefix

SLO_WINDOW_S = 30.0


class TEGroup:
    """The executors of one model, the requests waiting for one, and recent TTFTs (for the SLO)."""

    def __init__(
        self,
        name: str,
        activator_timeout_s: float = 60.0,
        activator_max_waiting: int = 256,
        on_demand: Callable[[], None] | None = None,
    ) -> None:
        self.name = name
        self.executors: list[Executor] = []
        self.activator_timeout_s = activator_timeout_s
        self.activator_max_waiting = activator_max_waiting
        self.on_demand = on_demand or (lambda: None)
        self.waiting = 0
        self.info = EngineInfo()
        """What the group's TEs run on (kept from the last ready TE, for footprints while at zero)."""
        self._changed = asyncio.Event()
        self._ttfts: deque[tuple[float, float]] = deque()
        self.scheduler = Scheduler()
        """The routing policy (set from the catalogue entry)."""

    @property
    def ready(self) -> list[Executor]:
        return [executor for executor in self.executors if executor.state == "ready"]

    @property
    def in_flight(self) -> int:
        return sum(executor.in_flight for executor in self.executors)

    def changed(self) -> None:
        """A TE became ready or left: wake the requests waiting for one."""
        for executor in self.ready:
            self.info = executor.info
        self._changed.set()

    async def executor(
        self, avoid: Executor | None = None, request: EngineRequest | None = None, pinned: bool = False
    ) -> Executor:
        """The ready TE the routing policy picks for `request` (other than `avoid` when another is ready), waiting
        (bounded) for one to come up. `pinned` (a request over a cached context) takes the TE holding the longest
        prefix of it whatever the policy: the context's id names where its KV lives (DeepFlow's MatchByID)."""
        ready = [executor for executor in self.ready if executor is not avoid] or self.ready
        if ready:
            return self._route(ready, request, pinned)
        if self.waiting >= self.activator_max_waiting:
            raise EngineUnavailableError(
                f"model {self.name!r} is starting and {self.waiting} requests already wait for it; retry shortly",
                retry_after_s=self._retry_after_s,
            )
        self.waiting += 1
        self.on_demand()
        deadline = time.monotonic() + self.activator_timeout_s
        try:
            while not (ready := self.ready):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise EngineUnavailableError(
                        f"model {self.name!r} has no ready task executor after {self.activator_timeout_s:.0f} s; "
                        "retry shortly",
                        retry_after_s=self._retry_after_s,
                    )
                self._changed.clear()
                try:
                    await asyncio.wait_for(self._changed.wait(), timeout=min(remaining, 1.0))
                except TimeoutError:
                    pass
        finally:
            self.waiting -= 1
        return self._route(ready, request, pinned)

    def _route(self, ready: list[Executor], request: EngineRequest | None, pinned: bool) -> Executor:
        """Build each ready TE's state for this request (load, cached prefix blocks) and ask the scheduler."""
        if request is None:
            return min(ready, key=lambda executor: executor.in_flight)
        view = next((e.cache_view for e in ready if e.cache_view.block_size), ready[0].cache_view)
        hashes = view.prompt_hashes(request.prompt_ids, request.cache_salt)
        states = [
            TEState(e.in_flight, e.cache_view.matched_blocks(hashes), held_blocks=len(e.cache_view.blocks))
            for e in ready
        ]
        if pinned:
            index = longest_prefix(states)
            self.scheduler.decisions["context"] += 1
        else:
            index = self.scheduler.choose(states, len(request.prompt_ids))
        ready[index].cache_view.record(states[index].cached_blocks)
        return ready[index]

    @property
    def _retry_after_s(self) -> int:
        """What a refused request is told: a quarter of the activator's wait."""
        return max(1, round(self.activator_timeout_s / 4))

    def record_ttft(self, seconds: float) -> None:
        now = time.monotonic()
        self._ttfts.append((now, seconds))
        while self._ttfts and now - self._ttfts[0][0] > SLO_WINDOW_S:
            self._ttfts.popleft()

    def slo_miss_rate(self, slo_s: float | None) -> float:
        """Share of the last window's TTFTs over `slo_s` (0 with no SLO or no request)."""
        now = time.monotonic()
        recent = [ttft for at, ttft in self._ttfts if now - at <= SLO_WINDOW_S]
        if slo_s is None or not recent:
            return 0.0
        return sum(ttft > slo_s for ttft in recent) / len(recent)
