"""Impacts of one request served by Headwater, on the hardware it actually ran on.

The bricks method with measured time instead of published latencies: the request held its share of the
engine's devices for its end-to-end time (the devices are shared by the requests running together, so the share
is 1 / concurrency), at the device's power (by default the paper's bricks: 3.15 W per vCPU, 50.1 W per 10 GB
MIG-slice-equivalent of GPU memory), times PUE; its tokens are stored for the retention period and sent over the
network. Embodied impacts are the matching vCPU- or vGPU-hours.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from headwater.errors import InvalidRequestError
from headwater.footprint.factors import PORTFOLIO_REGION, Factors
from headwater.footprint.impacts import CRITERIA, Impacts
from headwater.footprint.operational import impacts_from_energy


@dataclass(frozen=True)
class ServingDevice:
    """What an engine runs on: `units` vCPUs (cpu) or 10 GB vGPU slices (gpu); `power_w` overrides the bricks."""

    kind: Literal["cpu", "gpu"]
    units: float
    power_w: float | None = None

    def __post_init__(self) -> None:
        if self.kind not in ("cpu", "gpu"):
            raise InvalidRequestError(f"device kind must be cpu or gpu, got {self.kind!r}", param="kind")
        if not self.units > 0 or (self.power_w is not None and not self.power_w > 0):
            raise InvalidRequestError("device units and power must be positive", param="units")

    @property
    def brick(self) -> str:
        return "vcpu" if self.kind == "cpu" else "vgpu"

    def watts(self, factors: Factors) -> float:
        return self.power_w if self.power_w is not None else self.units * factors.brick(f"{self.brick}_power_w")


@dataclass(frozen=True)
class ServedRequest:
    """A finished request: its tokens, its end-to-end time, and how many requests shared the engine meanwhile."""

    prompt_tokens: int
    completion_tokens: int
    seconds: float
    concurrency: float = 1.0
    region: str = PORTFOLIO_REGION


def served_request_impacts(request: ServedRequest, device: ServingDevice, factors: Factors) -> Impacts:
    """The five criteria for one served request."""
    if not (math.isfinite(request.seconds) and request.seconds >= 0):
        raise InvalidRequestError(f"seconds must be a non-negative number, got {request.seconds}", param="seconds")
    share_hours = request.seconds / max(1.0, request.concurrency) / 3600.0
    gigabytes = (request.prompt_tokens + request.completion_tokens) * factors.brick("bytes_per_token") / 1e9
    storage_kwh = gigabytes * factors.brick("storage_hours_per_request") * factors.brick("storage_power_w_per_gb")
    it_kwh = device.watts(factors) * share_hours / 1000.0 + storage_kwh / 1000.0
    energy = it_kwh * factors.brick("pue") + gigabytes * factors.brick("network_kwh_per_gb")
    device_hours = device.units * share_hours
    embodied = {
        c: device_hours * factors.brick(f"embodied_{device.brick}_hour_{c}")
        + gigabytes * factors.brick(f"embodied_network_gb_{c}")
        for c in CRITERIA[1:]
    }
    return impacts_from_energy("capgemini", energy, it_kwh, embodied, factors, request.region)
