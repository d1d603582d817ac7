"""From energy to the five criteria: operational impacts through the grid and the data centre's cooling water
(WUE litres of IT energy, each litre with its own impacts, as in the paper), plus embodied impacts.

Shared by every estimator, so they differ only in how they get energy and hardware use. The range spans the
grids of the factor table (e.g. USA, EU-27, China) for the operational part; the central value uses `region`.
"""

from __future__ import annotations

from collections.abc import Mapping

from headwater.footprint.factors import Factors
from headwater.footprint.impacts import CRITERIA, Impacts, Range

GRID_KEY = {
    "gwp_kgco2e": "gwp_kgco2e_per_kwh",
    "water_m3eq": "water_m3eq_per_kwh",
    "pe_mj": "pe_mj_per_kwh",
    "adpe_kgsbeq": "adpe_kgsbeq_per_kwh",
}


def impacts_from_energy(
    estimator: str,
    energy_kwh: float,
    it_kwh: float,
    embodied: Mapping[str, float],
    factors: Factors,
    region: str,
) -> Impacts:
    """`energy_kwh` is final energy (after PUE); `it_kwh` is what the servers drew (for on-site water via WUE)."""
    central_grid = factors.grid(region)
    criteria = {"energy_kwh": Range.point(energy_kwh)}
    for criterion in CRITERIA[1:]:
        cooling_litres = it_kwh * factors.brick("wue_l_per_kwh")
        fixed = embodied.get(criterion, 0.0) + cooling_litres * factors.brick(f"cooling_water_{criterion}_per_l")
        per_region = [energy_kwh * grid[GRID_KEY[criterion]] for grid in factors.grids.values()]
        central = energy_kwh * central_grid[GRID_KEY[criterion]]
        criteria[criterion] = Range(central + fixed, min(per_region) + fixed, max(per_region) + fixed)
    return Impacts(estimator, criteria)
