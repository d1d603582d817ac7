"""A company's AI portfolio (Desroches et al., arXiv 2501.14334, §2.3) and its yearly impacts.

Each cluster's share of the use cases is the product of independent marginals (GenAI or traditional; use case;
model size; users; frequency). A use case's yearly requests = business days × users × requests per user per day.
The paper does not print its four frequency levels; our default (1, 5, 10, 20 requests per user per day) is an
assumption chosen to be plausible and to land near the paper's totals, and is documented in docs/footprint.md.
Users describe their own portfolio as a mapping (YAML) with the same field names.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from headwater.errors import InvalidRequestError
from headwater.footprint.capgemini import CapgeminiEstimator
from headwater.footprint.clusters import GENAI_USE_CASES, MODEL_SIZES, TRADITIONAL_USE_CASES, cluster_workload
from headwater.footprint.factors import PORTFOLIO_REGION
from headwater.footprint.impacts import Impacts


def _shares(name: str, shares: Mapping[str, float] | tuple[float, ...], allowed: tuple[str, ...] | None) -> None:
    values = list(shares.values()) if isinstance(shares, Mapping) else list(shares)
    if isinstance(shares, Mapping) and allowed is not None:
        unknown = sorted(set(shares) - set(allowed))
        if unknown:
            raise InvalidRequestError(
                f"{name}: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(allowed)}", param=name
            )
    if any(isinstance(v, bool) or not isinstance(v, int | float) or v < 0 for v in values):
        raise InvalidRequestError(f"{name}: shares must be non-negative numbers, got {values}", param=name)
    if abs(sum(values) - 1.0) > 1e-6:
        raise InvalidRequestError(f"{name}: shares must sum to 1, got {sum(values):.4f}", param=name)


@dataclass(frozen=True)
class Portfolio:
    """The paper's portfolio by default; every field can be changed."""

    use_cases: float = 100
    genai_share: float = 0.29
    genai_mix: dict[str, float] = field(default_factory=lambda: {"chat": 0.28, "rag": 0.39, "agents": 0.33})
    traditional_mix: dict[str, float] = field(default_factory=lambda: {"tabular": 0.79, "vision": 0.11, "nlp": 0.10})
    genai_sizes: dict[str, float] = field(default_factory=lambda: {"8B": 0.131, "70B": 0.011, "405B": 0.858})
    user_levels: tuple[float, ...] = (10, 100, 1000, 10000)
    genai_user_shares: tuple[float, ...] = (0.10, 0.40, 0.30, 0.20)
    traditional_user_shares: tuple[float, ...] = (0.80, 0.15, 0.05, 0.0)
    frequency_levels_per_day: tuple[float, ...] = (1, 5, 10, 20)
    genai_frequency_shares: tuple[float, ...] = (0.35, 0.40, 0.20, 0.05)
    traditional_frequency_shares: tuple[float, ...] = (0.25, 0.25, 0.25, 0.25)
    business_days: float = 250
    region: str = PORTFOLIO_REGION

    def __post_init__(self) -> None:
        if not 0 <= self.genai_share <= 1:
            raise InvalidRequestError(f"genai_share must be in [0, 1], got {self.genai_share}", param="genai_share")
        for name in ("use_cases", "business_days"):
            if getattr(self, name) <= 0:
                raise InvalidRequestError(f"{name} must be positive", param=name)
        _shares("genai_mix", self.genai_mix, tuple(GENAI_USE_CASES))
        _shares("traditional_mix", self.traditional_mix, TRADITIONAL_USE_CASES)
        _shares("genai_sizes", self.genai_sizes, tuple(MODEL_SIZES))
        for name, levels in (
            ("genai_user_shares", self.user_levels),
            ("traditional_user_shares", self.user_levels),
            ("genai_frequency_shares", self.frequency_levels_per_day),
            ("traditional_frequency_shares", self.frequency_levels_per_day),
        ):
            shares = getattr(self, name)
            if len(shares) != len(levels):
                raise InvalidRequestError(
                    f"{name} needs one share per level ({len(levels)}), got {len(shares)}", param=name
                )
            _shares(name, tuple(shares), None)

    @classmethod
    def from_mapping(cls, data: Mapping[str, object]) -> Portfolio:
        """A portfolio from YAML-like data; unknown keys are an error listing the allowed ones."""
        allowed = [f.name for f in fields(cls)]
        unknown = sorted(set(data) - set(allowed))
        if unknown:
            raise InvalidRequestError(
                f"unknown portfolio key(s) {', '.join(unknown)}; allowed: {', '.join(allowed)}", param=unknown[0]
            )
        # Values are YAML scalars and lists; __post_init__ checks each against its field.
        values: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
        return cls(**values)

    def yearly_requests(self, genai: bool) -> float:
        """Mean yearly requests of one use case (users and frequency are independent)."""
        users = self.genai_user_shares if genai else self.traditional_user_shares
        frequency = self.genai_frequency_shares if genai else self.traditional_frequency_shares
        mean_users = sum(level * share for level, share in zip(self.user_levels, users, strict=True))
        mean_frequency = sum(
            level * share for level, share in zip(self.frequency_levels_per_day, frequency, strict=True)
        )
        return self.business_days * mean_users * mean_frequency

    def clusters(self) -> list[tuple[str, str | None, float]]:
        """(use case, size or None, number of use cases) for every cluster."""
        genai: list[tuple[str, str | None, float]] = [
            (use_case, size, self.use_cases * self.genai_share * mix * size_share)
            for use_case, mix in self.genai_mix.items()
            for size, size_share in self.genai_sizes.items()
        ]
        traditional = [
            (use_case, None, self.use_cases * (1 - self.genai_share) * mix)
            for use_case, mix in self.traditional_mix.items()
        ]
        return genai + traditional


@dataclass(frozen=True)
class ClusterImpacts:
    """One cluster's yearly requests and impacts."""

    use_case: str
    size: str | None
    use_cases: float
    yearly_requests: float
    impacts: Impacts


def assess(
    portfolio: Portfolio,
    estimator: CapgeminiEstimator,
    usage_growth: Mapping[str, float] | None = None,
    genai_intensity: float = 1.0,
    traditional_intensity: float = 1.0,
) -> list[ClusterImpacts]:
    """Yearly impacts of each cluster. `usage_growth` multiplies requests per use case; the intensities multiply
    per-inference impacts (the scenario levers on models and hardware)."""
    results = []
    for use_case, size, count in portfolio.clusters():
        genai = size is not None
        requests = count * portfolio.yearly_requests(genai) * (usage_growth or {}).get(use_case, 1.0)
        per_inference = estimator.estimate(cluster_workload(use_case, size, portfolio.region))
        scale = requests * (genai_intensity if genai else traditional_intensity)
        results.append(ClusterImpacts(use_case, size, count, requests, per_inference.scaled(scale)))
    return results


def total(clusters: list[ClusterImpacts]) -> Impacts:
    """The portfolio's yearly impacts."""
    result = clusters[0].impacts
    for cluster in clusters[1:]:
        result = result + cluster.impacts
    return result
