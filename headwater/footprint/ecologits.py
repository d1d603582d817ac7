"""The `ecologits` estimator: EcoLogits' published method for one LLM request, written by us.

Following the `ecologits` package, version `REFERENCE_VERSION` (`ecologits/impacts/llm.py`): GPU energy per output
token = (α·e^{β·batch}·P_active + γ) Wh (P in billions). Generation time = output tokens × (α_L·P_active +
β_L·batch + γ_L) s (or × 1/throughput when the deployment's tokens/s is given) + TTFT (when given, else 0), capped
at the request's measured latency when it is known (a request cannot have held the GPUs longer than it took). The
model needs ceil(1.2·P_total·bits/8 / 80 GB) GPUs, rounded up to a power of two. IT energy = GPUs × GPU energy +
the server's share (its non-GPU power × generation time × GPUs/8 / batch); energy = PUE × IT energy. Embodied
impacts are the server's and GPUs' manufacturing impacts × generation time / (life × batch). So the measured
latency changes the server's energy and the embodied impacts, never the GPU energy.

Usage impacts use the same grid table, PUE and cooling water as the `capgemini` estimator, so the two differ only
by their method. EcoLogits reports water as litres consumed; we report the same AWARE-style m³ world-eq as the
other estimators (grid factor + on-site WUE) and give embodied water as 0, as EcoLogits has none.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from importlib import resources

from headwater.errors import InvalidRequestError
from headwater.footprint.capgemini import InferenceWorkload
from headwater.footprint.factors import Factors
from headwater.footprint.impacts import Impacts
from headwater.footprint.operational import impacts_from_energy

SECONDS_PER_YEAR = 365 * 24 * 3600
REFERENCE_VERSION = "0.11.3"
"""The `ecologits` release our coefficients and formulas follow, and the one the Makefile installs to test against."""
EMBODIED_CRITERIA = ("gwp_kgco2e", "pe_mj", "adpe_kgsbeq")


def ecologits_constants() -> dict[str, float]:
    """EcoLogits' published coefficients, from the shipped CSV (each row cites its source)."""
    with resources.files("headwater.footprint").joinpath("data").joinpath("ecologits.csv").open() as handle:
        return {row["name"]: float(row["value"]) for row in csv.DictReader(handle)}


@dataclass(frozen=True)
class EcologitsRequest:
    """The quantities of one request in EcoLogits' computation, before the grid turns energy into impacts."""

    gpus: int
    generation_seconds: float
    """EcoLogits' `generation_latency` (see `EcologitsEstimator.generation_seconds`)."""
    it_kwh: float
    energy_kwh: float
    embodied: dict[str, float]
    """Manufacturing impacts charged to the request: gwp_kgco2e, pe_mj, adpe_kgsbeq."""


def check_latency(request_latency: float | None, name: str = "request_latency") -> None:
    """A measured latency must be a positive, finite number of seconds (None: not measured, no cap); `name` is the
    field or flag the error names."""
    _check_optional(request_latency, name, "a positive, finite number of seconds (the request's measured time)")


def _check_optional(value: float | None, name: str, what: str, zero_ok: bool = False) -> None:
    if value is None:
        return
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if not (number and math.isfinite(value) and (value > 0 or (zero_ok and value == 0))):
        raise InvalidRequestError(f"{name} must be {what}, got {value!r}", param=name.lstrip("-"))


class EcologitsEstimator:
    """Impacts of one LLM request by the EcoLogits method, with `active_params` for mixture-of-experts models and
    `request_latency` for the request's measured time in seconds."""

    name = "ecologits"

    def __init__(self, factors: Factors, constants: dict[str, float] | None = None) -> None:
        self.factors = factors
        self.constants = constants or ecologits_constants()

    def gpus(self, total_params: float) -> int:
        c = self.constants
        memory_gb = c["memory_overhead"] * total_params / 1e9 * c["quantization_bits"] / 8
        needed = max(1, math.ceil(memory_gb / c["gpu_memory_gb"]))
        return 2 ** math.ceil(math.log2(needed))

    def generation_seconds(
        self,
        active_billions: float,
        output_tokens: float,
        request_latency: float | None = None,
        throughput: float | None = None,
        ttft: float | None = None,
    ) -> float:
        """EcoLogits' `generation_latency`: output tokens × the time per token (the fit α_L·P_active + β_L·batch +
        γ_L, or 1/`throughput` when the deployment's tokens/s is known) + `ttft` (0 unless known), at most the
        measured `request_latency`: a request cannot have held the GPUs longer than it took."""
        check_latency(request_latency)
        _check_optional(throughput, "throughput", "a positive, finite number of tokens per second")
        _check_optional(ttft, "ttft", "a non-negative, finite number of seconds", zero_ok=True)
        c = self.constants
        per_token = c["latency_alpha"] * active_billions + c["latency_beta"] * c["batch_size"] + c["latency_gamma"]
        fitted = output_tokens * (per_token if throughput is None else 1.0 / throughput) + (ttft or 0.0)
        return fitted if request_latency is None else min(fitted, request_latency)

    def gpu_kwh(self, active_billions: float, output_tokens: float) -> float:
        """Energy of one GPU for the request: the per-token fit, which does not depend on latency."""
        c = self.constants
        per_token_wh = c["gpu_energy_alpha"] * math.exp(c["gpu_energy_beta"] * c["batch_size"]) * active_billions
        return output_tokens * (per_token_wh + c["gpu_energy_gamma"]) / 1000.0

    def request(
        self,
        workload: InferenceWorkload,
        active_params: float | None = None,
        request_latency: float | None = None,
        throughput: float | None = None,
        ttft: float | None = None,
    ) -> EcologitsRequest:
        """Energy and embodied impacts of one request; `request_latency` is the measured time of all its calls,
        `throughput` (tokens/s) and `ttft` (s) the deployment's, when known (see `generation_seconds`)."""
        c = self.constants
        active = (active_params or workload.model_params) / 1e9
        batch = c["batch_size"]
        gpus = self.gpus(workload.model_params)
        tokens = workload.output_tokens * workload.llm_calls
        seconds = self.generation_seconds(active, tokens, request_latency, throughput, ttft)
        server_kwh = seconds / 3600.0 * c["server_power_kw"] * gpus / c["server_gpus"] / batch
        it_kwh = server_kwh + gpus * self.gpu_kwh(active, tokens)
        share = seconds / (c["hardware_life_years"] * SECONDS_PER_YEAR * batch)
        embodied = {
            criterion: share
            * (gpus / c["server_gpus"] * c[f"server_embodied_{criterion}"] + gpus * c[f"gpu_embodied_{criterion}"])
            for criterion in EMBODIED_CRITERIA
        }
        return EcologitsRequest(gpus, seconds, it_kwh, self.factors.brick("pue") * it_kwh, embodied)

    def estimate(
        self,
        workload: InferenceWorkload,
        active_params: float | None = None,
        request_latency: float | None = None,
        throughput: float | None = None,
        ttft: float | None = None,
    ) -> Impacts:
        """The five criteria: `request`'s energy and embodied impacts, through our grid and cooling water."""
        result = self.request(workload, active_params, request_latency, throughput, ttft)
        return impacts_from_energy(
            self.name, result.energy_kwh, result.it_kwh, result.embodied, self.factors, workload.region
        )


def package_request(
    workload: InferenceWorkload,
    factors: Factors,
    active_params: float | None = None,
    request_latency: float | None = None,
    throughput: float | None = None,
    ttft: float | None = None,
) -> dict[str, float] | None:
    """The `ecologits` package's own computation of the same request with our grid and PUE (None when it is not
    installed): the reference our implementation is checked against. Keys are EcoLogits' (`request_energy`,
    `generation_latency`, `request_embodied_gwp`, `request_usage_gwp`, …)."""
    try:
        from ecologits.impacts.llm import compute_llm_impacts_dag
    except ImportError:
        return None
    grid = factors.grid(workload.region)
    result = compute_llm_impacts_dag(
        model_active_parameter_count=(active_params or workload.model_params) / 1e9,
        model_total_parameter_count=workload.model_params / 1e9,
        output_token_count=workload.output_tokens * workload.llm_calls,
        request_latency=math.inf if request_latency is None else request_latency,
        if_electricity_mix_adpe=grid["adpe_kgsbeq_per_kwh"],
        if_electricity_mix_pe=grid["pe_mj_per_kwh"],
        if_electricity_mix_gwp=grid["gwp_kgco2e_per_kwh"],
        if_electricity_mix_wue=0,
        datacenter_pue=factors.brick("pue"),
        datacenter_wue=factors.brick("wue_l_per_kwh"),
        tps=throughput,
        ttft=ttft,
    )
    return {key: float(value) for key, value in result.items() if isinstance(value, int | float)}
