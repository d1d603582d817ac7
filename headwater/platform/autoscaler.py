"""How many task executors each model should have, decided every second from its load (DeepFlow's fast
scaling; Knative's and Ray Serve's rules in the small).

desired = ceil(sequences in flight / target_in_flight), one more while the TTFT-SLO miss rate over the last window
is above a threshold, clamped to [min_tes, max_tes]. Scaling up is immediate; scaling down waits until the group
has not needed its current size for `idle_timeout_s` (so a pause between bursts does not bounce TEs); the TEs it
no longer needs are drained (no new request, the running ones finish) and go back to the pool. `min_tes: 0`
means scale to zero. The decision is pure (load and clock in, a number out), so it is tested with hand-made loads
and a fake clock.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

SLO_MISS_THRESHOLD = 0.1
"""Share of TTFTs over the SLO in the last window above which the group grows by one."""


@dataclass(frozen=True)
class ScalePolicy:
    """A model's TE-group settings (from its catalogue entry)."""

    min_tes: int
    max_tes: int
    target_in_flight: int
    idle_timeout_s: float
    ttft_slo_s: float | None = None


@dataclass(frozen=True)
class GroupLoad:
    """What the autoscaler sees of a group: its TEs (ready or coming up), the sequences in flight or waiting
    (including requests held by the activator) and the share of recent TTFTs over the SLO."""

    tes: int
    in_flight: int
    slo_miss_rate: float = 0.0


class ScaleDecider:
    """Per-model memory of when each group last needed its size; `desired` is called once per tick."""

    def __init__(self) -> None:
        self._needed_at: dict[str, float] = {}

    def desired(self, name: str, load: GroupLoad, policy: ScalePolicy, now: float) -> int:
        wanted = math.ceil(load.in_flight / policy.target_in_flight)
        if policy.ttft_slo_s is not None and load.slo_miss_rate > SLO_MISS_THRESHOLD and load.in_flight:
            wanted = max(wanted, load.tes + 1)
        wanted = max(policy.min_tes, min(policy.max_tes, wanted))
        if wanted >= load.tes or name not in self._needed_at:
            self._needed_at[name] = now
            return wanted
        if now - self._needed_at[name] < policy.idle_timeout_s:
            return load.tes
        return wanted

    def forget(self, name: str) -> None:
        self._needed_at.pop(name, None)
