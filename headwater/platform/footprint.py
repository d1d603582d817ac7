"""Footprint accounting on the serving path: every finished request gets an impacts record."""

from __future__ import annotations

from headwater.config import Settings
from headwater.engine.protocol import EngineInfo
from headwater.footprint.capgemini import InferenceWorkload
from headwater.footprint.ecologits import EcologitsEstimator
from headwater.footprint.factors import load_factors
from headwater.footprint.impacts import Impacts
from headwater.footprint.serving import ServedRequest, ServingDevice, served_request_impacts


class FootprintAccountant:
    """Estimates one request's impacts with the configured estimator (see HEADWATER_FOOTPRINT_*)."""

    def __init__(self, settings: Settings) -> None:
        self.factors = load_factors()
        self.estimator = settings.footprint_estimator
        self.region = settings.footprint_region
        self.device_power_w = settings.device_power_w
        self.factors.grid(self.region)  # an unknown region fails at start-up, not on the first request

    def impacts(
        self, info: EngineInfo, prompt_tokens: int, completion_tokens: int, seconds: float, concurrency: float
    ) -> Impacts:
        """`seconds` is the request's measured end-to-end time: the `capgemini` path charges the devices for it; the
        `ecologits` path caps its fitted generation time at it, as EcoLogits does with the latency it measures."""
        if self.estimator == "ecologits" and info.parameters > 0:
            workload = InferenceWorkload(info.parameters, prompt_tokens, completion_tokens, region=self.region)
            return EcologitsEstimator(self.factors).estimate(workload, request_latency=seconds if seconds > 0 else None)
        device = ServingDevice(info.device_kind, info.device_units, self.device_power_w)
        request = ServedRequest(prompt_tokens, completion_tokens, seconds, concurrency, self.region)
        return served_request_impacts(request, device, self.factors)

    def held_device_impacts(self, info: EngineInfo, seconds: float) -> Impacts:
        """Impacts of holding a TE's devices for `seconds`, whatever it runs: a TE keeps its vCPUs or GPU memory
        reserved (and powered) while idle or pooled, so the bricks' power applies to its whole life."""
        device = ServingDevice(info.device_kind, info.device_units, self.device_power_w)
        return served_request_impacts(ServedRequest(0, 0, seconds, 1.0, self.region), device, self.factors)
