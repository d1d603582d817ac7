"""TE-time accounting: how long each model's task executors were busy, idle or pooled, and what that cost.

A request's footprint covers its own seconds on a TE; a serverless platform also keeps TEs up between requests
(idle, draining) and in the pool. Those seconds are summed per model and state every autoscaler tick, turned into
energy and GHG with the same serving model as requests (`FootprintAccountant.held_device_impacts`: a TE holds its
devices whatever it runs), and flushed to the store, where `GET /v1/footprint` reads them for admins.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime

from headwater.engine.protocol import EngineInfo
from headwater.platform.executors.protocol import Executor
from headwater.platform.footprint import FootprintAccountant
from headwater.platform.store import ExecutorTime

POOL = "(pool)"
"""The model name under which pre-warmed TEs' time is kept."""


class ExecutorClock:
    """Seconds per (model, state) since the last `take`, with their energy and GHG."""

    def __init__(self, accountant: FootprintAccountant, started: float) -> None:
        self.accountant = accountant
        self._last = started
        self._host = EngineInfo()
        self._seconds: defaultdict[tuple[str, str, EngineInfo], float] = defaultdict(float)

    def tick(self, groups: dict[str, list[Executor]], pooled: list[Executor], now: float) -> None:
        """Charge the time since the last tick to each TE's model and state (`busy` with requests in flight, else
        `idle`; pooled TEs to `(pool)`, on the devices a bound TE of this host has)."""
        elapsed, self._last = max(0.0, now - self._last), now
        for model, executors in groups.items():
            for executor in executors:
                if executor.info.parameters:
                    self._host = executor.info
                state = "busy" if executor.in_flight else "idle"
                self._seconds[(model, state, executor.info if executor.info.parameters else self._host)] += elapsed
        if pooled:
            self._seconds[(POOL, "pooled", self._host)] += elapsed * len(pooled)

    def take(self, day: str | None = None) -> list[ExecutorTime]:
        """The totals since the last take, as store entries for `day` (default: today, UTC)."""
        day = day or datetime.now(UTC).strftime("%Y-%m-%d")
        merged: defaultdict[tuple[str, str], list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0])
        for (model, state, info), seconds in self._seconds.items():
            impacts = self.accountant.held_device_impacts(info, seconds)
            totals = merged[(model, state)]
            totals[0] += seconds
            totals[1] += impacts["energy_kwh"].value
            totals[2] += impacts["gwp_kgco2e"].value
        self._seconds.clear()
        return [ExecutorTime(model, day, state, *totals) for (model, state), totals in merged.items()]
