"""2030 scenarios (Desroches et al., arXiv 2501.14334, §3.2, Tables 2 and 28-31) and the projection engine.


A scenario multiplies each use case's requests (usage growth), scales GenAI per-inference impacts by model size ×
output tokens / (hardware gain × int8 gain), traditional ones by 1 / hardware gain, sets the PUE, and multiplies
the grids' per-kWh factors (decarbonisation). Indexes are 2030 / 2024 × 100 per criterion.

The breakthrough scenarios put a share s of inferences on chips e times more efficient. The paper's hardware gain
averages the efficiencies, hardware_efficiency × (1 − s + s·e) (×4.8 for s = 0.2, e = 20), and its embodied
impacts also follow the fleet's hardware time, × (1 − s + s/e) = 0.81: with both, every index of its two
breakthrough rows sits at the same offset from ours as their energy index (docs/footprint.md).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any, cast

from headwater.errors import InvalidRequestError
from headwater.footprint.capgemini import CapgeminiEstimator
from headwater.footprint.clusters import USE_CASES
from headwater.footprint.factors import Factors
from headwater.footprint.impacts import CRITERIA, Impacts
from headwater.footprint.portfolio import Portfolio, assess, total

LOW_GROWTH = {"chat": 5.29, "rag": 5.29, "agents": 6.05, "tabular": 2.57, "vision": 2.08, "nlp": 3.30}
HIGH_GROWTH = {"chat": 10.09, "rag": 10.09, "agents": 13.87, "tabular": 3.64, "vision": 2.99, "nlp": 4.83}
INTERMEDIATE_GROWTH = {**HIGH_GROWTH, "chat": 7.4, "rag": 7.4, "agents": 9.3}
BASE_HARDWARE = 4.4  # 1.28×/year FLOP/W (Epoch) from 2024 to 2030
BREAKTHROUGH = {"new_chip_share": 0.2, "new_chip_efficiency": 20.0}


@dataclass(frozen=True)
class Scenario:
    """The levers of one projection."""

    name: str
    usage_growth: dict[str, float] = field(default_factory=lambda: dict.fromkeys(USE_CASES, 1.0))
    model_size: float = 1.0
    output_tokens: float = 1.0
    hardware_efficiency: float = 1.0
    int8_gain: float = 1.0
    pue: float | None = None  # None keeps the factor table's PUE
    grid_factor: float = 1.0
    new_chip_share: float = 0.0
    """Share of inferences served by breakthrough chips (the paper's breakthrough scenarios: 0.2)."""
    new_chip_efficiency: float = 1.0
    """How many times more efficient those chips are (the paper: 20)."""

    @property
    def hardware_gain(self) -> float:
        """Per-inference energy divisor: the paper's efficiency average over the fleet."""
        return self.hardware_efficiency * (1 - self.new_chip_share + self.new_chip_share * self.new_chip_efficiency)

    @property
    def embodied_time_share(self) -> float:
        """The fleet's hardware time relative to old chips only, which the paper's embodied impacts also follow."""
        return 1 - self.new_chip_share + self.new_chip_share / self.new_chip_efficiency

    def __post_init__(self) -> None:
        unknown = sorted(set(self.usage_growth) - set(USE_CASES))
        if unknown:
            raise InvalidRequestError(
                f"usage_growth: unknown use case(s) {', '.join(unknown)}; allowed: {', '.join(USE_CASES)}",
                param="usage_growth",
            )
        if not 0 <= self.new_chip_share <= 1:
            raise InvalidRequestError(
                f"{self.name}: new_chip_share must be in [0, 1], got {self.new_chip_share!r}", param="new_chip_share"
            )
        levers = ("model_size", "output_tokens", "hardware_efficiency", "int8_gain", "pue", "grid_factor")
        for lever in (*levers, "new_chip_efficiency"):
            value = getattr(self, lever)
            if lever == "pue" and value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                raise InvalidRequestError(f"{self.name}: {lever} must be a positive number, got {value!r}", param=lever)

    @classmethod
    def from_mapping(cls, name: str, data: Mapping[str, object]) -> Scenario:
        allowed = [f.name for f in fields(cls) if f.name != "name"]
        unknown = sorted(set(data) - set(allowed))
        if unknown:
            raise InvalidRequestError(
                f"scenario {name!r}: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(allowed)}",
                param=unknown[0],
            )
        # YAML values: __post_init__ checks each lever and growth factor, naming the bad one.
        given_growth = cast(Mapping[str, float], data.get("usage_growth") or {})
        values: dict[str, Any] = {**data, "usage_growth": {**dict.fromkeys(USE_CASES, 1.0), **dict(given_growth)}}
        return cls(name=name, **values)


PAPER_SCENARIOS = {
    "steady_ascent": Scenario("steady_ascent", LOW_GROWTH, 3.0, 1.33, BASE_HARDWARE, 1.0, 1.15, 0.76),
    "high_adoption": Scenario("high_adoption", HIGH_GROWTH, 3.0, 3.0, BASE_HARDWARE, 1.0, 1.15, 0.76),
    "limited_growth": Scenario("limited_growth", LOW_GROWTH, 1.0, 1.13, BASE_HARDWARE, 1.2, 1.10, 0.55, **BREAKTHROUGH),
    "technological_breakthrough": Scenario(
        "technological_breakthrough", HIGH_GROWTH, 3.0, 3.0, BASE_HARDWARE, 1.2, 1.10, 0.55, **BREAKTHROUGH
    ),
    "intermediate": Scenario("intermediate", INTERMEDIATE_GROWTH, 2.0, 2.0, BASE_HARDWARE, 1.0, 1.15, 0.76),
}


@dataclass(frozen=True)
class Projection:
    """A scenario's 2030 impacts and its indexes (2024 = 100) per criterion."""

    scenario: str
    impacts: Impacts
    index: dict[str, float]


def _estimator(factors: Factors, scenario: Scenario) -> CapgeminiEstimator:
    grids = {region: {k: v * scenario.grid_factor for k, v in row.items()} for region, row in factors.grids.items()}
    pue = {} if scenario.pue is None else {"pue": scenario.pue}
    countries = {iso: gwp * scenario.grid_factor for iso, gwp in factors.countries.items()}
    embodied = {
        name: value * scenario.embodied_time_share
        for name, value in factors.bricks.items()
        if name.startswith("embodied_")
    }
    overridden = factors.with_overrides({**pue, **embodied, "grids": grids})
    return CapgeminiEstimator(dataclasses.replace(overridden, countries=countries))


def project(portfolio: Portfolio, factors: Factors, scenario: Scenario) -> Projection:
    """2030 impacts of `portfolio` under `scenario`, against 2024 with the same factors."""
    baseline = total(assess(portfolio, CapgeminiEstimator(factors)))
    genai = scenario.model_size * scenario.output_tokens / (scenario.hardware_gain * scenario.int8_gain)
    future = total(
        assess(portfolio, _estimator(factors, scenario), scenario.usage_growth, genai, 1.0 / scenario.hardware_gain)
    )
    index = {c: 100.0 * future[c].value / baseline[c].value for c in CRITERIA}
    return Projection(scenario.name, future, index)


def hardware_for_index(
    portfolio: Portfolio, factors: Factors, scenario: Scenario, target: float = 10.0, criterion: str = "gwp_kgco2e"
) -> float:
    """The hardware efficiency at which `criterion`'s index falls to `target` (e.g. 10: a 90 % cut); the index
    is inversely proportional to it, so one projection suffices."""
    index = project(portfolio, factors, scenario).index[criterion]
    return scenario.hardware_efficiency * index / target


ECO_SCORE_LETTERS = "ABCDEFG"


def eco_score(kwh_per_task: float) -> str:
    """The paper's naive eco-score (Table 6): A below 1e-8 kWh per task, one letter per decade, G from 1e-3
    (the paper's scale stops at G < 1e-2; we keep G above it)."""
    if kwh_per_task < 0:
        raise InvalidRequestError(f"energy per task must be non-negative, got {kwh_per_task}", param="kwh_per_task")
    threshold = 1e-8
    for letter in ECO_SCORE_LETTERS[:-1]:
        if kwh_per_task < threshold:
            return letter
        threshold *= 10
    return ECO_SCORE_LETTERS[-1]
