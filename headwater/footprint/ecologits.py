"""The `ecologits` estimator: EcoLogits' published method for one LLM request, written by us.

GPU energy per output token = (α·e^{β·batch}·P_active + γ) Wh (P in billions); generation time per token =
α_L·P_active + β_L·batch + γ_L s (or 1/throughput when known), plus TTFT. The model needs
ceil(1.2·P_total·bits/8 / 80 GB) GPUs, rounded up to a power of two. IT energy = GPUs × GPU energy + the
server's share (its non-GPU power × time × GPUs/8 / batch); energy = PUE × IT energy. Embodied impacts are the
server's and GPUs' manufacturing impacts × time / (life × batch). Usage impacts use the same grid table as the
`capgemini` estimator, so the two differ only by their method. EcoLogits reports water as litres consumed;
we report the same AWARE-style m³ world-eq as the other estimators (grid factor + on-site WUE) and give
embodied water as 0, as EcoLogits has none.
"""

from __future__ import annotations

import csv
import math
from importlib import resources

from headwater.footprint.capgemini import InferenceWorkload
from headwater.footprint.factors import Factors
from headwater.footprint.impacts import Impacts
from headwater.footprint.operational import impacts_from_energy

SECONDS_PER_YEAR = 365 * 24 * 3600


def ecologits_constants() -> dict[str, float]:
    """EcoLogits' published coefficients, from the shipped CSV (each row cites its source)."""
    with resources.files("headwater.footprint").joinpath("data").joinpath("ecologits.csv").open() as handle:
        return {row["name"]: float(row["value"]) for row in csv.DictReader(handle)}


class EcologitsEstimator:
    """Impacts of one LLM request by the EcoLogits method, with `active_params` for mixture-of-experts models."""

    name = "ecologits"

    def __init__(self, factors: Factors, constants: dict[str, float] | None = None) -> None:
        self.factors = factors
        self.constants = constants or ecologits_constants()

    def gpus(self, total_params: float) -> int:
        c = self.constants
        memory_gb = c["memory_overhead"] * total_params / 1e9 * c["quantization_bits"] / 8
        needed = max(1, math.ceil(memory_gb / c["gpu_memory_gb"]))
        return 2 ** math.ceil(math.log2(needed))

    def generation_seconds(self, active_billions: float, output_tokens: float) -> float:
        c = self.constants
        per_token = c["latency_alpha"] * active_billions + c["latency_beta"] * c["batch_size"] + c["latency_gamma"]
        return output_tokens * per_token

    def estimate(self, workload: InferenceWorkload, active_params: float | None = None) -> Impacts:
        c, f = self.constants, self.factors
        active = (active_params or workload.model_params) / 1e9
        batch = c["batch_size"]
        gpus = self.gpus(workload.model_params)
        tokens = workload.output_tokens * workload.llm_calls
        seconds = self.generation_seconds(active, tokens)
        gpu_kwh = (
            tokens
            * (c["gpu_energy_alpha"] * math.exp(c["gpu_energy_beta"] * batch) * active + c["gpu_energy_gamma"])
            / 1000.0
        )
        server_kwh = seconds / 3600.0 * c["server_power_kw"] * gpus / c["server_gpus"] / batch
        it_kwh = server_kwh + gpus * gpu_kwh
        energy = f.brick("pue") * it_kwh
        share = seconds / (c["hardware_life_years"] * SECONDS_PER_YEAR * batch)
        embodied = {
            criterion: share
            * (gpus / c["server_gpus"] * c[f"server_embodied_{criterion}"] + gpus * c[f"gpu_embodied_{criterion}"])
            for criterion in ("gwp_kgco2e", "pe_mj", "adpe_kgsbeq")
        }
        return impacts_from_energy(self.name, energy, it_kwh, embodied, f, workload.region)


def package_energy_kwh(workload: InferenceWorkload, factors: Factors) -> float | None:
    """The `ecologits` package's own energy for the same request (None when it is not installed): the reference
    our implementation is checked against."""
    try:
        from ecologits.impacts.llm import compute_llm_impacts_dag
    except ImportError:
        return None
    grid = factors.grid(workload.region)
    billions = workload.model_params / 1e9
    result = compute_llm_impacts_dag(
        model_active_parameter_count=billions,
        model_total_parameter_count=billions,
        output_token_count=workload.output_tokens * workload.llm_calls,
        request_latency=1e9,
        if_electricity_mix_adpe=grid["adpe_kgsbeq_per_kwh"],
        if_electricity_mix_pe=grid["pe_mj_per_kwh"],
        if_electricity_mix_gwp=grid["gwp_kgco2e_per_kwh"],
        if_electricity_mix_wue=0,
        datacenter_pue=factors.brick("pue"),
        datacenter_wue=factors.brick("wue_l_per_kwh"),
    )
    return float(result["request_energy"])
