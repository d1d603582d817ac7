"""Factor tables: the CSVs shipped in `headwater/footprint/data`, each row with its source, year and licence.

Users override any factor by keyword or from a YAML file; an unknown name is an error that lists the allowed
ones, so a typo never silently falls back to a default.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path

from headwater.errors import InvalidRequestError

PORTFOLIO_REGION = "portfolio"
DEFAULT_REGION_MIX = {"usa": 0.45, "eu27": 0.28, "china": 0.27}
"""The paper's portfolio geography: 45 % US, 28 % EU, 27 % APAC (China's factors)."""
GRID_CRITERIA = ("gwp_kgco2e_per_kwh", "water_m3eq_per_kwh", "pe_mj_per_kwh", "adpe_kgsbeq_per_kwh")
EU27 = frozenset(
    "AUT BEL BGR HRV CYP CZE DNK EST FIN FRA DEU GRC HUN IRL ITA LVA LTU LUX MLT NLD POL PRT ROU SVK SVN "
    "ESP SWE".split()
)
PAPER_REGION_OF_COUNTRY = {"USA": "usa", "CHN": "china", **dict.fromkeys(EU27, "eu27")}


@dataclass(frozen=True)
class Latency:
    """Serving speed of a model size: time to first token and decode throughput."""

    size: str
    parameters: float
    prompt_tokens: float
    ttft_s: float
    tokens_per_s: float


@dataclass(frozen=True)
class Factors:
    """Every number the estimators use."""

    bricks: dict[str, float]
    grids: dict[str, dict[str, float]]
    latencies: tuple[Latency, ...]
    region_mix: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_REGION_MIX))
    countries: dict[str, float] = field(default_factory=dict)
    """Grid GHG intensity (kg CO2e/kWh) per ISO 3166 alpha-3 country code."""

    def brick(self, name: str) -> float:
        return self.bricks[name]

    def grid(self, region: str) -> dict[str, float]:
        """Per-kWh factors of a region; `portfolio` is the region mix's weighted average. A country code (FRA)
        takes its own GHG intensity; its other criteria are those of its paper region (EU-27, USA, China), or of
        the portfolio mix elsewhere, since no per-country table of them ships with a clean licence."""
        if region.upper() in self.countries and region not in self.grids:
            base = self.grid(PAPER_REGION_OF_COUNTRY.get(region.upper(), PORTFOLIO_REGION))
            return {**base, "gwp_kgco2e_per_kwh": self.countries[region.upper()]}
        if region == PORTFOLIO_REGION:
            return {c: sum(share * self.grids[r][c] for r, share in self.region_mix.items()) for c in GRID_CRITERIA}
        if region not in self.grids:
            allowed = ", ".join([PORTFOLIO_REGION, *sorted(self.grids)])
            raise InvalidRequestError(
                f"unknown region {region!r}; allowed: {allowed}, or an ISO 3166 alpha-3 country code (FRA, IND, …)",
                param="region",
            )
        return self.grids[region]

    def with_overrides(self, overrides: Mapping[str, object]) -> Factors:
        """A copy with bricks (`pue=1.1`), grid rows (`grids: {eu27: {gwp_kgco2e_per_kwh: 0.3}}`) or
        `region_mix` replaced. Unknown names raise an error that lists the allowed ones."""
        bricks, grids, mix = dict(self.bricks), {k: dict(v) for k, v in self.grids.items()}, dict(self.region_mix)
        for key, value in overrides.items():
            if key == "grids":
                _override_grids(grids, value)
            elif key == "region_mix":
                mix = _region_mix(value, grids)
            elif key in bricks:
                bricks[key] = _non_negative(key, value)
            else:
                allowed = ", ".join(sorted([*bricks, "grids", "region_mix"]))
                raise InvalidRequestError(f"unknown factor {key!r}; allowed: {allowed}", param=key)
        return replace(self, bricks=bricks, grids=grids, region_mix=mix)


def _non_negative(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidRequestError(f"{name} must be a number, got {value!r}", param=name)
    if value < 0:
        raise InvalidRequestError(f"{name} must not be negative, got {value}", param=name)
    return float(value)


def _override_grids(grids: dict[str, dict[str, float]], value: object) -> None:
    if not isinstance(value, Mapping):
        raise InvalidRequestError("grids must map a region to its per-kWh factors", param="grids")
    for region, row in value.items():
        if not isinstance(row, Mapping):
            raise InvalidRequestError(f"grids.{region} must map criteria to numbers", param=f"grids.{region}")
        target = grids.setdefault(str(region), {})
        for criterion, number in row.items():
            if criterion not in GRID_CRITERIA:
                raise InvalidRequestError(
                    f"unknown grid criterion {criterion!r}; allowed: {', '.join(GRID_CRITERIA)}",
                    param=f"grids.{region}.{criterion}",
                )
            target[criterion] = _non_negative(f"grids.{region}.{criterion}", number)
        missing = [c for c in GRID_CRITERIA if c not in target]
        if missing:
            raise InvalidRequestError(f"new region {region!r} needs {', '.join(missing)}", param=f"grids.{region}")


def _region_mix(value: object, grids: Mapping[str, object]) -> dict[str, float]:
    if not isinstance(value, Mapping) or not value:
        raise InvalidRequestError("region_mix must map regions to shares", param="region_mix")
    mix = {str(region): _non_negative(f"region_mix.{region}", share) for region, share in value.items()}
    unknown = sorted(set(mix) - set(grids))
    if unknown:
        allowed = ", ".join(sorted(grids))
        raise InvalidRequestError(f"unknown region(s) {', '.join(unknown)}; allowed: {allowed}", param="region_mix")
    if abs(sum(mix.values()) - 1.0) > 1e-6:
        raise InvalidRequestError(f"region_mix shares must sum to 1, got {sum(mix.values()):.4f}", param="region_mix")
    return mix


def _rows(name: str, folder: Path | None) -> list[dict[str, str]]:
    source = (folder / name) if folder else resources.files("headwater.footprint").joinpath("data").joinpath(name)
    with source.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    for number, row in enumerate(rows, start=2):
        missing = [column for column in ("source", "year", "licence") if not row.get(column)]
        if missing:
            raise InvalidRequestError(f"{name} line {number} lacks {', '.join(missing)}", param=name)
    return rows


def load_factors(folder: Path | None = None, overrides: Mapping[str, object] | None = None) -> Factors:
    """The shipped factor tables (or those in `folder`), with `overrides` applied."""
    bricks = {row["name"]: float(row["value"]) for row in _rows("bricks.csv", folder)}
    grids = {row["region"]: {c: float(row[c]) for c in GRID_CRITERIA} for row in _rows("grids.csv", folder)}
    latencies = tuple(
        Latency(
            row["size"],
            float(row["parameters"]),
            float(row["prompt_tokens"]),
            float(row["ttft_s"]),
            float(row["tokens_per_s"]),
        )
        for row in _rows("latencies.csv", folder)
    )
    countries = {row["iso3"]: float(row["gwp_kgco2e_per_kwh"]) for row in _rows("countries.csv", folder)}
    factors = Factors(bricks, grids, latencies, countries=countries)
    return factors.with_overrides(overrides) if overrides else factors


def read_yaml(path: Path) -> dict[str, object]:
    """A YAML file as a mapping (for factor overrides, portfolios and scenarios), with a clear error."""
    import yaml

    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise InvalidRequestError(f"cannot read {path}: {error}", param=str(path)) from error
    if not isinstance(data, dict):
        raise InvalidRequestError(f"{path} must hold a mapping at the top level", param=str(path))
    return data
