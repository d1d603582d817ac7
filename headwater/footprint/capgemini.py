"""The `capgemini` estimator: the bricks model of Desroches et al. (arXiv 2501.14334) for one inference.

An LLM call holds `ceil(params × bytes_per_parameter × memory_overhead / vGPU memory)` vGPUs (MIG slices) for
TTFT + output_tokens / throughput seconds (Table 17's latencies, measured at 100- and 1 000-token prompts,
log-log interpolated between model sizes); compute energy = vGPUs × 50.1 W × time × PUE (Table 1). Each
request's tokens (4 bytes each) are kept a year on storage (1.25e-3 W/GB × PUE) and sent over the network
(0.0342 kWh/GB). Tool calls are traditional NLP inferences (`nlp_calls`). Embodied impacts are hardware use ×
the embodied bricks; operational ones come from `headwater.footprint.operational`.

Traditional use cases (tabular, vision, NLP) take the paper's published compute energy (Table 14, from measured
models; the hardware time behind it is not published) and embodied impacts (Table 33); their storage and network
follow from the request size (Table 15). docs/footprint.md lists where the paper's printed numbers disagree and
what we chose.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from importlib import resources

from headwater.errors import InvalidRequestError
from headwater.footprint.factors import PORTFOLIO_REGION, Factors, Latency
from headwater.footprint.impacts import CRITERIA, Impacts
from headwater.footprint.operational import impacts_from_energy


def _check_numbers(owner: object, names: tuple[str, ...], positive: tuple[str, ...] = ()) -> None:
    for name in names:
        value = getattr(owner, name)
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise InvalidRequestError(f"{name} must be a finite number, got {value!r}", param=name)
        if value < 0 or (name in positive and value == 0):
            raise InvalidRequestError(
                f"{name} must be {'positive' if name in positive else 'non-negative'}, got {value}", param=name
            )


@dataclass(frozen=True)
class InferenceWorkload:
    """One LLM request: model size, tokens in and out per LLM call, LLM calls, and NLP calls beside them."""

    model_params: float
    input_tokens: float
    output_tokens: float
    llm_calls: float = 1.0
    nlp_calls: float = 0.0
    region: str = PORTFOLIO_REGION

    def __post_init__(self) -> None:
        _check_numbers(
            self,
            ("model_params", "input_tokens", "output_tokens", "llm_calls", "nlp_calls"),
            positive=("model_params",),
        )


@dataclass(frozen=True)
class TraditionalWorkload:
    """One inference of a traditional model: `tabular`, `vision` or `nlp`."""

    use_case: str
    region: str = PORTFOLIO_REGION


def latency_for(params: float, latencies: tuple[Latency, ...], prompt_tokens: float = 100.0) -> tuple[float, float]:
    """(TTFT s, tokens/s) for a model size and prompt length: the table measured at the longest prompt length not
    above the prompt (the paper uses its 100-token figures for chat and agents, 1 000-token ones for RAG),
    log-log interpolated between sizes and extrapolated from the nearest segment outside them."""
    lengths = sorted({latency.prompt_tokens for latency in latencies})
    measured_at = max([length for length in lengths if length <= prompt_tokens] or lengths[:1])
    points = sorted((lat for lat in latencies if lat.prompt_tokens == measured_at), key=lambda lat: lat.parameters)
    if len(points) == 1:
        return points[0].ttft_s, points[0].tokens_per_s
    index = max(1, min(len(points) - 1, sum(point.parameters < params for point in points)))
    left, right = points[index - 1], points[index]
    weight = (math.log(params) - math.log(left.parameters)) / (math.log(right.parameters) - math.log(left.parameters))

    def blend(a: float, b: float) -> float:
        return math.exp(math.log(a) + weight * (math.log(b) - math.log(a)))

    return blend(left.ttft_s, right.ttft_s), blend(left.tokens_per_s, right.tokens_per_s)


def traditional_table() -> dict[str, dict[str, float]]:
    """Table 14/15/33 figures of the traditional use cases, from the shipped CSV."""
    with resources.files("headwater.footprint").joinpath("data").joinpath("traditional.csv").open() as handle:
        return {
            row["use_case"]: {k: float(v) for k, v in row.items() if k not in ("use_case", "source", "year", "licence")}
            for row in csv.DictReader(handle)
        }


class CapgeminiEstimator:
    """Impacts of LLM and traditional inferences with the paper's bricks."""

    name = "capgemini"

    def __init__(self, factors: Factors) -> None:
        self.factors = factors
        self.traditional = traditional_table()

    def vgpus(self, params: float) -> int:
        f = self.factors
        memory_gb = params * f.brick("bytes_per_parameter") * f.brick("memory_overhead") / 1e9
        return max(1, math.ceil(memory_gb / f.brick("vgpu_memory_gb") - 1e-9))

    def call_hours(self, workload: InferenceWorkload) -> float:
        """Duration of one LLM call, in hours."""
        ttft, tokens_per_s = latency_for(workload.model_params, self.factors.latencies, workload.input_tokens)
        return (ttft + workload.output_tokens / tokens_per_s) / 3600.0

    def _data_energy(self, gigabytes: float) -> tuple[float, float]:
        """(IT kWh of storing `gigabytes` for the retention period, network kWh of sending them)."""
        f = self.factors
        storage_it = gigabytes * f.brick("storage_hours_per_request") * f.brick("storage_power_w_per_gb") / 1000.0
        return storage_it, gigabytes * f.brick("network_kwh_per_gb")

    def _embodied(self, usage: dict[str, float]) -> dict[str, float]:
        f = self.factors
        return {
            c: sum(amount * f.brick(f"embodied_{unit}_{c}") for unit, amount in usage.items()) for c in CRITERIA[1:]
        }

    def estimate(self, workload: InferenceWorkload | TraditionalWorkload) -> Impacts:
        if isinstance(workload, TraditionalWorkload):
            return self._traditional(workload)
        f = self.factors
        vgpu_hours = self.vgpus(workload.model_params) * self.call_hours(workload) * workload.llm_calls
        tokens = (workload.input_tokens + workload.output_tokens) * workload.llm_calls
        gigabytes = tokens * f.brick("bytes_per_token") / 1e9
        storage_it, network = self._data_energy(gigabytes)
        energy = (vgpu_hours * f.brick("vgpu_power_w") / 1000.0 + storage_it) * f.brick("pue") + network
        # Table 33 counts no embodied storage per inference (its RAG rows match only without it), and it cools
        # the whole energy, network included (energy / PUE): followed to match its Table 33.
        llm = impacts_from_energy(
            self.name,
            energy,
            energy / f.brick("pue"),
            self._embodied({"vgpu_hour": vgpu_hours, "network_gb": gigabytes}),
            f,
            workload.region,
        )
        if workload.nlp_calls == 0:
            return llm
        return llm + self._traditional(TraditionalWorkload("nlp", workload.region)).scaled(workload.nlp_calls)

    def _traditional(self, workload: TraditionalWorkload) -> Impacts:
        row = self.traditional.get(workload.use_case)
        if row is None:
            allowed = ", ".join(self.traditional)
            raise InvalidRequestError(
                f"unknown traditional use case {workload.use_case!r}; allowed: {allowed}", param="use_case"
            )
        f = self.factors
        storage_it, network = self._data_energy(row["request_gb"])
        it_kwh = row["compute_kwh"] / f.brick("pue") + storage_it  # Table 14's compute energy includes PUE
        embodied = {criterion: row[f"embodied_{criterion}"] for criterion in CRITERIA[1:]}
        energy = it_kwh * f.brick("pue") + network
        return impacts_from_energy(self.name, energy, energy / f.brick("pue"), embodied, f, workload.region)
