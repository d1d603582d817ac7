"""A TE group: the task executors serving one model, and the activator that holds requests while none is ready.

Requests go to the ready TE the model's routing policy picks (`headwater.platform.scheduler`, over the TEs'
sequences in flight and their exact cache views; draining TEs take none). When no TE is ready
(the model is at zero, or its only TE is starting or restarting) a request waits in the activator: a bounded
queue with a timeout, after which it gets a 503 with `Retry-After`. Waiting wakes the autoscaler, so a request
never fails just because its model was at zero.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Callable

from headwater.engine.protocol import EngineInfo, EngineOutput, EngineRequest, ServingMode
from headwater.errors import EngineUnavailableError
from headwater.platform.executors.protocol import Executor
from headwater.platform.scheduler import Scheduler, TEState, longest_prefix

SLO_WINDOW_S = 30.0
logger = logging.getLogger(__name__)


def te_mode(executor: Executor) -> ServingMode:
    """What a TE does with requests: its model spec says (`colocated` while it has none, or for a stand-in executor
    with no spec at all, as tests make)."""
    model = getattr(executor, "model", None)
    return model.engine.mode if model is not None else "colocated"


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

    def ready_in(self, mode: ServingMode | None) -> list[Executor]:
        """The ready TEs, only those running in `mode` when one is given (a disaggregated model's two groups)."""
        return [executor for executor in self.ready if mode is None or te_mode(executor) == mode]

    async def executor(
        self,
        avoid: Executor | None = None,
        request: EngineRequest | None = None,
        pinned: bool = False,
        mode: ServingMode | None = None,
    ) -> Executor:
        """The ready TE the routing policy picks for `request` (other than `avoid` when another is ready), waiting
        (bounded) for one to come up. `pinned` (a request over a cached context) takes the TE holding the longest
        prefix of it whatever the policy: the context's id names where its KV lives (DeepFlow's MatchByID). `mode`
        restricts the choice to the TEs of that mode (the prefill or the decode half of a disaggregated request)."""
        ready = [executor for executor in self.ready_in(mode) if executor is not avoid] or self.ready_in(mode)
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
            while not (ready := self.ready_in(mode)):
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

    async def generate(
        self, request: EngineRequest, pinned: bool = False, mode: ServingMode | None = None, retry: bool = True
    ) -> AsyncIterator[EngineOutput]:
        """The request's engine outputs from the TE `executor` picks. With `retry`, a TE lost before the first token
        is replaced once, by another ready TE when there is one (nothing was shown to the client yet); after it, or
        without `retry`, the loss is the caller's EngineUnavailableError (a 503)."""
        failed: Executor | None = None
        for attempt in range(2 if retry else 1):
            executor = await self.executor(avoid=failed, request=request, pinned=pinned, mode=mode)
            started = False
            try:
                async for output in executor.generate(request):
                    started = started or bool(output.token_ids)
                    yield output
                return
            except EngineUnavailableError:
                if started or not retry or attempt == 1:
                    raise
                logger.warning(
                    "%s was lost before the first token of %s; retrying once", executor.name, request.request_id
                )
                failed = executor
            finally:
                executor.cache_view.settle(request.request_id)

    def kind(self, request: EngineRequest, pinned: bool = False) -> ServingMode:
        """Algorithm 1, step 1, for a group holding colocated TEs beside a prefill/decode pair: `prefill` (through
        the pair) or `colocated`, as the scheduler decides over the ready TEs (over all the TEs, idle, while none is
        ready). A `pinned` request (over a cached context) goes to the kind whose TE holds the longest prefix of
        it, since its KV lives there (where no TE holds any of it, the scheduler decides)."""
        members = self.ready or self.executors
        if not members:
            return "colocated"
        states = (
            self._states(members, request, expected=not pinned)
            if self.ready
            else [TEState(0, mode=te_mode(e)) for e in members]
        )
        if pinned:
            entries = [state for state in states if state.mode != "decode"]
            if any(state.cached_blocks for state in entries):
                return "prefill" if entries[longest_prefix(entries)].mode == "prefill" else "colocated"
        return self.scheduler.choose_kind(states, len(request.prompt_ids))

    @staticmethod
    def _hashes(ready: list[Executor], request: EngineRequest) -> list[int]:
        """The request's prompt as the TEs' cache views name it (its salted block-hash chain)."""
        view = next((e.cache_view for e in ready if e.cache_view.block_size), ready[0].cache_view)
        return view.prompt_hashes(request.prompt_ids, request.cache_salt)

    @staticmethod
    def _states(
        ready: list[Executor], request: EngineRequest, hashes: list[int] | None = None, expected: bool = True
    ) -> list[TEState]:
        """Each ready TE's state for this request: load, leading prompt blocks it holds (with `expected`, or will
        once the running requests routed to it are prefilled), mode, blocks it holds."""
        hashes = TEGroup._hashes(ready, request) if hashes is None else hashes
        return [
            TEState(e.in_flight, e.cache_view.matched_blocks(hashes, expected), te_mode(e), len(e.cache_view.blocks))
            for e in ready
        ]

    def _route(self, ready: list[Executor], request: EngineRequest | None, pinned: bool) -> Executor:
        """Build each ready TE's state for this request (load, cached prefix blocks) and ask the scheduler."""
        if request is None:
            return min(ready, key=lambda executor: executor.in_flight)
        hashes = self._hashes(ready, request)
        states = self._states(ready, request, hashes, expected=not pinned)  # a context's KV is where it was reported
        if pinned:
            index = longest_prefix(states)
            self.scheduler.decisions["context"] += 1
        else:
            index = self.scheduler.choose(states, len(request.prompt_ids))
        view = ready[index].cache_view
        view.record(view.matched_blocks(hashes))  # a hit is a prefix the TE reported, not one on its way
        view.expect(request.request_id, hashes)
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
