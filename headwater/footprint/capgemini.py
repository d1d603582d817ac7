"""The `capgemini` estimator: the bricks model of Desroches et al. (arXiv 2501.14334), §2, for one inference.

An LLM inference holds `ceil(params × bytes_per_parameter × memory_overhead / vGPU memory)` vGPUs (MIG slices)
and `vcpus_per_inference` vCPUs for TTFT + output_tokens / throughput seconds (the paper's latencies per size,
interpolated log-log in between). Energy = IT power × time × PUE, plus the network energy of the tokens sent
and the storage energy of keeping them a year. Operational impacts = energy × the grid's per-kWh factors (water
adds the data centre's WUE); embodied impacts = hardware-hours × the embodied bricks. The range spans the
paper's three grids (USA, EU-27, China) for the operational part.

Deviation, documented in docs/footprint.md: the paper's printed Table 1 is reproduced only with one vCPU beside
the vGPUs (`vcpus_per_inference`); the network factor is read as kWh/GB, not the Wh/GB the paper prints.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from headwater.errors import InvalidRequestError
from headwater.footprint.factors import PORTFOLIO_REGION, Factors, Latency
from headwater.footprint.impacts import CRITERIA, Impacts, Range

HOURS_PER_YEAR = 8760.0
_GRID_KEY = {
    "gwp_kgco2e": "gwp_kgco2e_per_kwh",
    "water_m3eq": "water_m3eq_per_kwh",
    "pe_mj": "pe_mj_per_kwh",
    "adpe_kgsbeq": "adpe_kgsbeq_per_kwh",
}


@dataclass(frozen=True)
class InferenceWorkload:
    """One LLM request: model size, tokens in and out, and how many LLM calls it makes (agents make several)."""

    model_params: float
    input_tokens: float
    output_tokens: float
    llm_calls: float = 1.0
    region: str = PORTFOLIO_REGION

    def __post_init__(self) -> None:
        for name in ("model_params", "input_tokens", "output_tokens", "llm_calls"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                raise InvalidRequestError(f"{name} must be a finite number, got {value!r}", param=name)
            if value < 0 or (name == "model_params" and value == 0):
                raise InvalidRequestError(f"{name} must be positive, got {value}", param=name)


def latency_for(params: float, latencies: tuple[Latency, ...]) -> tuple[float, float]:
    """(TTFT s, tokens/s) for a model size: the paper's values, log-log interpolated between sizes and
    extrapolated from the nearest segment outside them."""
    points = sorted(latencies, key=lambda latency: latency.parameters)
    if len(points) == 1:
        return points[0].ttft_s, points[0].tokens_per_s
    index = max(1, min(len(points) - 1, sum(point.parameters < params for point in points)))
    left, right = points[index - 1], points[index]
    weight = (math.log(params) - math.log(left.parameters)) / (math.log(right.parameters) - math.log(left.parameters))

    def blend(a: float, b: float) -> float:
        return math.exp(math.log(a) + weight * (math.log(b) - math.log(a)))

    return blend(left.ttft_s, right.ttft_s), blend(left.tokens_per_s, right.tokens_per_s)


class CapgeminiEstimator:
    """Impacts of LLM inferences with the paper's bricks."""

    name = "capgemini"

    def __init__(self, factors: Factors) -> None:
        self.factors = factors

    def vgpus(self, params: float) -> int:
        f = self.factors
        memory_gb = params * f.brick("bytes_per_parameter") * f.brick("memory_overhead") / 1e9
        return max(1, math.ceil(memory_gb / f.brick("vgpu_memory_gb") - 1e-9))

    def call_hours(self, workload: InferenceWorkload) -> float:
        """Duration of one LLM call, in hours."""
        ttft, tokens_per_s = latency_for(workload.model_params, self.factors.latencies)
        return (ttft + workload.output_tokens / tokens_per_s) / 3600.0

    def estimate(self, workload: InferenceWorkload) -> Impacts:
        f = self.factors
        hours = self.call_hours(workload) * workload.llm_calls
        vgpus, vcpus = self.vgpus(workload.model_params), f.brick("vcpus_per_inference")
        it_power_kw = (vgpus * f.brick("vgpu_power_w") + vcpus * f.brick("vcpu_power_w")) / 1000.0
        token_gb = (
            (workload.input_tokens + workload.output_tokens) * workload.llm_calls * f.brick("bytes_per_token") / 1e9
        )
        storage_gb_hours = token_gb * HOURS_PER_YEAR
        it_kwh = it_power_kw * hours + storage_gb_hours * f.brick("storage_power_w_per_gb") / 1000.0
        energy = it_kwh * f.brick("pue") + token_gb * f.brick("network_kwh_per_gb")
        usage = {
            "vgpu_hour": vgpus * hours,
            "vcpu_hour": vcpus * hours,
            "storage_gb_hour": storage_gb_hours,
            "network_gb": token_gb,
        }
        criteria = {"energy_kwh": Range.point(energy)}
        for criterion in CRITERIA[1:]:
            embodied = sum(amount * f.brick(f"embodied_{unit}_{criterion}") for unit, amount in usage.items())
            onsite = it_kwh * f.brick("wue_l_per_kwh") / 1000.0 if criterion == "water_m3eq" else 0.0
            per_region = [energy * f.grid(region)[_GRID_KEY[criterion]] for region in f.grids]
            central = energy * f.grid(workload.region)[_GRID_KEY[criterion]]
            criteria[criterion] = Range(
                central + embodied + onsite, min(per_region) + embodied + onsite, max(per_region) + embodied + onsite
            )
        return Impacts(self.name, criteria)
