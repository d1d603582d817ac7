"""The paper's portfolio totals and its 2030 scenarios (Desroches et al., arXiv 2501.14334)."""

from __future__ import annotations

import dataclasses

import pytest

from headwater.errors import InvalidRequestError
from headwater.footprint import CapgeminiEstimator, load_factors
from headwater.footprint.portfolio import Portfolio, assess, total
from headwater.footprint.scenarios import PAPER_SCENARIOS, Scenario, eco_score, hardware_for_index, project

# Table 2: energy / GHG / water / PE / ADPe indexes in 2030 (2024 = 100).
TABLE_2 = {
    "steady_ascent": (552, 421, 475, 419, 535),
    "high_adoption": (2440, 1862, 2102, 1852, 2363),
    "limited_growth": (30, 17, 22, 17, 25),
    "technological_breakthrough": (402, 227, 288, 225, 325),
    "intermediate": (755, 576, 650, 573, 732),
}
CRITERIA = ("energy_kwh", "gwp_kgco2e", "water_m3eq", "pe_mj", "adpe_kgsbeq")


@pytest.fixture(scope="module")
def factors():
    return load_factors()


def test_portfolio_totals_within_10_percent(factors):
    clusters = assess(Portfolio(), CapgeminiEstimator(factors))
    totals = total(clusters)
    assert totals["energy_kwh"].value == pytest.approx(3.9e6, rel=0.10)
    assert totals["gwp_kgco2e"].value == pytest.approx(2.48e6, rel=0.10)
    assert totals["water_m3eq"].value == pytest.approx(1.6e5, rel=0.10)
    assert totals["adpe_kgsbeq"].value == pytest.approx(0.76, rel=0.10)
    genai = sum(c.impacts["energy_kwh"].value for c in clusters if c.size is not None)
    assert genai / totals["energy_kwh"].value > 0.999
    assert sum(c.use_cases for c in clusters) == pytest.approx(100)


@pytest.mark.parametrize("name", TABLE_2)
def test_table_2_scenarios_within_20_percent(factors, name):
    index = project(Portfolio(), factors, PAPER_SCENARIOS[name]).index
    for criterion, expected in zip(CRITERIA, TABLE_2[name], strict=True):
        assert index[criterion] == pytest.approx(expected, rel=0.20), criterion


@pytest.mark.parametrize(("name", "paper"), [("high_adoption", 565), ("intermediate", 175)])
def test_hardware_efficiency_for_a_90_percent_ghg_cut(factors, name, paper):
    scenario = dataclasses.replace(PAPER_SCENARIOS[name], pue=1.04, grid_factor=0.55)
    needed = hardware_for_index(Portfolio(), factors, scenario, target=10.0)
    assert needed == pytest.approx(paper, rel=0.10)
    check = project(Portfolio(), factors, dataclasses.replace(scenario, hardware_efficiency=needed))
    assert check.index["gwp_kgco2e"] == pytest.approx(10.0)


def test_a_neutral_scenario_changes_nothing(factors):
    assert all(v == pytest.approx(100) for v in project(Portfolio(), factors, Scenario("same")).index.values())


@pytest.mark.parametrize(
    ("data", "param"),
    [
        ({"genai_mix": {"chat": 0.5, "rag": 0.6, "agents": 0.0}}, "genai_mix"),
        ({"genai_mix": {"chat": 1.0, "poems": 0.0}}, "genai_mix"),
        ({"users": [1, 2]}, "users"),
        ({"genai_user_shares": [0.5, 0.5]}, "genai_user_shares"),
        ({"genai_share": 1.5}, "genai_share"),
    ],
)
def test_bad_portfolios_name_the_key(data, param):
    with pytest.raises(InvalidRequestError) as error:
        Portfolio.from_mapping(data)
    assert error.value.param == param


def test_scenario_from_mapping_checks_keys():
    scenario = Scenario.from_mapping("mine", {"usage_growth": {"chat": 2.0}, "hardware_efficiency": 2.0})
    assert scenario.usage_growth["chat"] == 2.0 and scenario.usage_growth["nlp"] == 1.0
    with pytest.raises(InvalidRequestError, match="allowed: usage_growth"):
        Scenario.from_mapping("mine", {"speed": 2})
    with pytest.raises(InvalidRequestError, match="hardware_efficiency must be a positive"):
        Scenario.from_mapping("mine", {"hardware_efficiency": 0})


@pytest.mark.parametrize(
    ("kwh", "letter"), [(3.46e-8, "B"), (3.70e-6, "D"), (9.31e-5, "E"), (1.55e-3, "G"), (5e-9, "A"), (1.73e-2, "G")]
)
def test_eco_score(kwh, letter):
    assert eco_score(kwh) == letter


def test_grid_decarbonisation_reaches_country_grids(factors):
    france = Portfolio(region="FRA")
    index = project(france, factors, Scenario("cleaner", grid_factor=0.5)).index["gwp_kgco2e"]
    assert index < 90  # France's grid is clean: only its operational share (about 60 %) halves


def test_breakthrough_chips_average_efficiencies_for_energy_and_time_for_embodied(factors):
    scenario = PAPER_SCENARIOS["technological_breakthrough"]
    assert scenario.hardware_gain == pytest.approx(4.4 * 4.8)
    assert scenario.embodied_time_share == pytest.approx(0.81)
    plain = dataclasses.replace(scenario, new_chip_share=0.0, hardware_efficiency=4.4 * 4.8)
    with_chips, without = project(Portfolio(), factors, scenario).index, project(Portfolio(), factors, plain).index
    assert with_chips["energy_kwh"] == pytest.approx(without["energy_kwh"])  # energy: the same ×21.1
    assert with_chips["adpe_kgsbeq"] < 0.85 * without["adpe_kgsbeq"]  # ADPe is ~89 % embodied
    with pytest.raises(InvalidRequestError, match="new_chip_share"):
        Scenario("bad", new_chip_share=1.5)
