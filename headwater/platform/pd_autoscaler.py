"""How many prefill, decode and colocated TEs a disaggregated model should have: DeepFlow's two groups (arXiv
2501.14417, §4), each scaled on its own load by the rules of `headwater.platform.autoscaler`.

- prefill: prompt tokens waiting for a prefill TE or being prefilled, over `target_prefill_tokens` per prefill TE
  (a prompt's cost is its length, not one sequence), one more while the TTFT-SLO miss rate is high (TTFT is the
  prefill's); between `prefill_tes` and `max_prefill_tes`.
- decode: sequences on the decode TEs (decoding, or queued in their engines) and those waiting at the gateway for
  a slot, over `target_in_flight` per decode TE; between `decode_tes` and `max_decode_tes`.
- colocated TEs beside the pair (`colocated_tes`) stay at their number.

Up at once, down only after the group has not needed its size for `idle_timeout_s`, as for a colocated model; the
lower bounds are at least 1, so a model that is up always has a prefill and a decode TE. With `min_tes: 0` the whole
model (pair and colocated TEs together) goes to zero once nothing has needed it for `idle_timeout_s`, and a request
held by the activator brings it back at its starting sizes. Pure: loads and a clock in, sizes out.
"""

from __future__ import annotations

from dataclasses import dataclass

from headwater.engine.protocol import ServingMode
from headwater.platform.autoscaler import GroupLoad, ScaleDecider, ScalePolicy
from headwater.platform.catalogue import CatalogueEntry


@dataclass(frozen=True)
class PairPolicy:
    """A disaggregated model's bounds and targets (from its catalogue entry)."""

    prefill: ScalePolicy
    """min/max prefill TEs while up; `target_in_flight` is in prompt tokens."""
    decode: ScalePolicy
    """min/max decode TEs while up; `target_in_flight` is in sequences."""
    colocated_tes: int = 0
    scale_to_zero: bool = False

    @classmethod
    def from_entry(cls, entry: CatalogueEntry) -> PairPolicy:
        prefill = ScalePolicy(
            *entry.prefill_bounds, entry.target_prefill_tokens, entry.idle_timeout_s, entry.ttft_slo_s
        )
        decode = ScalePolicy(*entry.decode_bounds, entry.target_in_flight, entry.idle_timeout_s)
        return cls(prefill, decode, entry.colocated_tes, entry.min_tes == 0)


@dataclass(frozen=True)
class PairLoad:
    """What the autoscaler sees of a disaggregated model: each group's TEs (not draining) and load, the colocated
    TEs beside them, and any other demand (requests held by the activator or the fair queue, sequences on the
    colocated TEs) that keeps the model up without sizing either group."""

    prefill: GroupLoad
    """`in_flight`: prompt tokens waiting for or in prefill."""
    decode: GroupLoad
    """`in_flight`: sequences on the decode TEs or waiting for a slot."""
    colocated_tes: int = 0
    other_demand: int = 0

    @property
    def up(self) -> bool:
        return bool(self.prefill.tes or self.decode.tes or self.colocated_tes)

    @property
    def demand(self) -> int:
        return self.prefill.in_flight + self.decode.in_flight + self.other_demand


@dataclass(frozen=True)
class PairSize:
    """The TEs of each mode a disaggregated model should have."""

    prefill: int
    decode: int
    colocated: int

    def of(self, mode: ServingMode) -> int:
        return {"prefill": self.prefill, "decode": self.decode, "colocated": self.colocated}[mode]


class PairDecider:
    """`desired` is called once per tick per disaggregated model; one `ScaleDecider` remembers, per model and
    group, when the group last needed its size."""

    def __init__(self, decider: ScaleDecider | None = None) -> None:
        self._decider = decider or ScaleDecider()

    def desired(self, name: str, load: PairLoad, policy: PairPolicy, now: float) -> PairSize:
        if not self._needed(name, load, policy, now):
            self._forget_groups(name)
            return PairSize(0, 0, 0)
        prefill = self._decider.desired(f"{name}/prefill", load.prefill, policy.prefill, now)
        decode = self._decider.desired(f"{name}/decode", load.decode, policy.decode, now)
        return PairSize(max(1, prefill), max(1, decode), policy.colocated_tes)

    def _needed(self, name: str, load: PairLoad, policy: PairPolicy, now: float) -> bool:
        """Whether the model stays (or comes) up: always, unless `min_tes: 0` and it has had no demand for
        `idle_timeout_s` (the whole model as one group of size 0 or 1, by the same rule)."""
        if not policy.scale_to_zero:
            return True
        whole = ScalePolicy(0, 1, 1, policy.decode.idle_timeout_s)
        return self._decider.desired(f"{name}/up", GroupLoad(int(load.up), min(1, load.demand)), whole, now) > 0

    def _forget_groups(self, name: str) -> None:
        """At zero: the groups come back at their starting sizes, with no memory of the last time they were up."""
        self._decider.forget(f"{name}/prefill")
        self._decider.forget(f"{name}/decode")

    def forget(self, name: str) -> None:
        self._forget_groups(name)
        self._decider.forget(f"{name}/up")
