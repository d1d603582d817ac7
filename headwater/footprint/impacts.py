"""The five LCA criteria and an estimate of them, each a value with a low/high range."""

from __future__ import annotations

from dataclasses import dataclass, field

from headwater.errors import InvalidRequestError

CRITERIA = ("energy_kwh", "gwp_kgco2e", "water_m3eq", "pe_mj", "adpe_kgsbeq")
"""Final energy (kWh), GWP100 (kg CO2e), water (m³ world-eq deprived, AWARE), primary energy (MJ), ADPe (kg Sb eq)."""


@dataclass(frozen=True)
class Range:
    """A central value and the low/high bounds the estimator can defend."""

    value: float
    low: float
    high: float

    @classmethod
    def point(cls, value: float) -> Range:
        return cls(value, value, value)

    def __add__(self, other: Range) -> Range:
        return Range(self.value + other.value, self.low + other.low, self.high + other.high)

    def scaled(self, factor: float) -> Range:
        return Range(self.value * factor, self.low * factor, self.high * factor)


@dataclass(frozen=True)
class Impacts:
    """Impacts of one workload on the five criteria, from the named estimator."""

    estimator: str
    criteria: dict[str, Range] = field(default_factory=lambda: {name: Range.point(0.0) for name in CRITERIA})

    def __post_init__(self) -> None:
        if set(self.criteria) != set(CRITERIA):
            raise InvalidRequestError(
                f"impacts need exactly the criteria {', '.join(CRITERIA)}; got {sorted(self.criteria)}"
            )

    def __getitem__(self, criterion: str) -> Range:
        return self.criteria[criterion]

    def __add__(self, other: Impacts) -> Impacts:
        name = self.estimator if self.estimator == other.estimator else f"{self.estimator}+{other.estimator}"
        return Impacts(name, {c: self.criteria[c] + other.criteria[c] for c in CRITERIA})

    def scaled(self, factor: float) -> Impacts:
        return Impacts(self.estimator, {c: r.scaled(factor) for c, r in self.criteria.items()})

    def to_dict(self) -> dict[str, object]:
        """JSON-ready: the criteria keys hold central values; `ranges` holds [low, high] per criterion."""
        return {
            "estimator": self.estimator,
            **{c: self.criteria[c].value for c in CRITERIA},
            "ranges": {c: [self.criteria[c].low, self.criteria[c].high] for c in CRITERIA},
        }
