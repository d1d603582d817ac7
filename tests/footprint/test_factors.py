"""Factor tables: every row cites its source, and overrides are checked by name."""

from __future__ import annotations

import csv
from importlib import resources

import pytest

from headwater.errors import InvalidRequestError
from headwater.footprint import load_factors, read_yaml


@pytest.mark.parametrize(
    "name", ["bricks.csv", "grids.csv", "latencies.csv", "traditional.csv", "ecologits.csv", "countries.csv"]
)
def test_every_row_has_source_year_and_licence(name):
    with resources.files("headwater.footprint").joinpath("data").joinpath(name).open() as handle:
        rows = list(csv.DictReader(handle))
    assert rows
    for row in rows:
        assert row["source"] and row["licence"] and 2000 < int(row["year"]) < 2100


def test_unknown_factor_names_the_allowed_ones():
    with pytest.raises(InvalidRequestError, match="unknown factor 'puee'.*pue") as error:
        load_factors(overrides={"puee": 1.1})
    assert error.value.param == "puee"


@pytest.mark.parametrize(
    ("overrides", "param"),
    [
        ({"pue": -1}, "pue"),
        ({"pue": "high"}, "pue"),
        ({"grids": {"eu27": {"gwp": 0.3}}}, "grids.eu27.gwp"),
        ({"region_mix": {"usa": 0.5, "eu27": 0.6}}, "region_mix"),
        ({"region_mix": {"atlantis": 1.0}}, "region_mix"),
        ({"grids": {"norway": {"gwp_kgco2e_per_kwh": 0.03}}}, "grids.norway"),
    ],
)
def test_bad_overrides_are_refused(overrides, param):
    with pytest.raises(InvalidRequestError) as error:
        load_factors(overrides=overrides)
    assert error.value.param == param


def test_grid_override_and_new_region():
    row = {"gwp_kgco2e_per_kwh": 0.03, "water_m3eq_per_kwh": 1e-3, "pe_mj_per_kwh": 10.0, "adpe_kgsbeq_per_kwh": 1e-8}
    factors = load_factors(overrides={"grids": {"norway": row}, "region_mix": {"norway": 1.0}})
    assert factors.grid("portfolio")["gwp_kgco2e_per_kwh"] == pytest.approx(0.03)
    assert load_factors().grid("eu27")["gwp_kgco2e_per_kwh"] == 0.41, "overrides never touch the shipped table"


def test_yaml_overrides(tmp_path):
    path = tmp_path / "factors.yaml"
    path.write_text("pue: 1.1\ngrids:\n  eu27:\n    gwp_kgco2e_per_kwh: 0.3\n")
    factors = load_factors(overrides=read_yaml(path))
    assert factors.brick("pue") == 1.1 and factors.grid("eu27")["gwp_kgco2e_per_kwh"] == 0.3
    path.write_text("- not a mapping\n")
    with pytest.raises(InvalidRequestError, match="mapping"):
        read_yaml(path)


def test_country_grids_take_their_own_ghg_and_their_regions_other_factors():
    factors = load_factors()
    france = factors.grid("FRA")
    assert france["gwp_kgco2e_per_kwh"] == pytest.approx(0.056, abs=0.005)
    assert france["water_m3eq_per_kwh"] == factors.grid("eu27")["water_m3eq_per_kwh"]
    assert factors.grid("ind")["pe_mj_per_kwh"] == factors.grid("portfolio")["pe_mj_per_kwh"]
    assert factors.grid("IND")["gwp_kgco2e_per_kwh"] > factors.grid("FRA")["gwp_kgco2e_per_kwh"] * 5
    with pytest.raises(InvalidRequestError, match="alpha-3"):
        factors.grid("XXX")
