"""A portfolio document: the portfolio's keys plus optional `factors:` overrides and `scenarios:` (name → levers),
as a YAML file holds it for `headwater footprint portfolio|project|report` and as a JSON body holds it for
`POST /v1/footprint/reports`; read one way for both."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from headwater.errors import InvalidRequestError
from headwater.footprint.capgemini import CapgeminiEstimator
from headwater.footprint.factors import Factors, load_factors
from headwater.footprint.impacts import CRITERIA, Impacts
from headwater.footprint.portfolio import ClusterImpacts, Portfolio, assess, total
from headwater.footprint.scenarios import PAPER_SCENARIOS, Projection, Scenario, project


@dataclass(frozen=True)
class PortfolioDocument:
    """What a document names: the portfolio, the factor table (defaults with its overrides) and the scenarios
    (the paper's five unless it gives its own)."""

    portfolio: Portfolio
    factors: Factors
    scenarios: dict[str, Scenario]


def read_document(data: Mapping[str, object]) -> PortfolioDocument:
    """The document in `data` (empty: the paper's portfolio, factors and scenarios); a wrong key names itself."""
    rest = dict(data)
    factor_overrides = rest.pop("factors", None) or {}
    scenario_data = rest.pop("scenarios", None)
    if not isinstance(factor_overrides, dict):
        raise InvalidRequestError("factors must be a mapping of factor names to values", param="factors")
    scenarios = dict(PAPER_SCENARIOS)
    if scenario_data is not None:
        if not isinstance(scenario_data, dict) or not all(isinstance(v, dict) for v in scenario_data.values()):
            raise InvalidRequestError("scenarios must map a name to its levers", param="scenarios")
        for name, levers in scenario_data.items():
            growth = levers.get("usage_growth", {})
            if not isinstance(growth, dict) or not all(_number(value) for value in growth.values()):
                raise InvalidRequestError(
                    f"scenario {name!r}: usage_growth must map use cases to numbers, got {growth!r}",
                    param="usage_growth",
                )
        scenarios = {name: Scenario.from_mapping(name, levers) for name, levers in scenario_data.items()}
    _check_scalars(rest)
    return PortfolioDocument(Portfolio.from_mapping(rest), load_factors(overrides=factor_overrides), scenarios)


def _check_scalars(data: Mapping[str, object]) -> None:
    """A number or a string field of the portfolio given as something else names itself (a JSON body may hold
    anything; `Portfolio` checks ranges, not types)."""
    defaults = Portfolio()
    for name, value in data.items():
        default = getattr(defaults, name, None)
        if isinstance(default, int | float) and not _number(value):
            raise InvalidRequestError(f"{name} must be a number, got {value!r}", param=name)
        if isinstance(default, str) and not isinstance(value, str):
            raise InvalidRequestError(f"{name} must be a string, got {value!r}", param=name)
        if isinstance(default, tuple) and not (
            isinstance(value, list | tuple) and all(_number(item) for item in value)
        ):
            raise InvalidRequestError(f"{name} must be a list of numbers, got {value!r}", param=name)
        if isinstance(default, dict) and not isinstance(value, dict):
            raise InvalidRequestError(f"{name} must map names to shares, got {value!r}", param=name)


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


@dataclass(frozen=True)
class PortfolioReport:
    """The yearly impacts per cluster and in total, and the 2030 projection under each scenario."""

    clusters: list[ClusterImpacts]
    totals: Impacts
    projections: list[Projection]

    def summary(self) -> dict[str, object]:
        """Totals (value per criterion) and each scenario's 2030 indexes, as JSON-ready numbers."""
        return {
            "totals": {criterion: self.totals[criterion].value for criterion in CRITERIA},
            "clusters": len(self.clusters),
            "scenarios": {p.scenario: dict(p.index) for p in self.projections},
        }


def assess_document(document: PortfolioDocument) -> PortfolioReport:
    """Assess the portfolio with the paper's estimator and project it under every scenario of the document."""
    clusters = assess(document.portfolio, CapgeminiEstimator(document.factors))
    projections = [project(document.portfolio, document.factors, s) for s in document.scenarios.values()]
    return PortfolioReport(clusters, total(clusters), projections)
