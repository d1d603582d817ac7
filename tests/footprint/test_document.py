"""A portfolio document read from a mapping (a YAML file or a JSON body): the paper's defaults when empty, its
overrides applied, and a value of the wrong type refused naming its field (a JSON body may hold anything)."""

from __future__ import annotations

import pytest

from headwater.errors import InvalidRequestError
from headwater.footprint.capgemini import CapgeminiEstimator
from headwater.footprint.document import assess_document, read_document
from headwater.footprint.factors import load_factors
from headwater.footprint.portfolio import Portfolio, assess, total
from headwater.footprint.scenarios import PAPER_SCENARIOS


def test_an_empty_document_is_the_papers_portfolio_factors_and_scenarios():
    document = read_document({})
    assert document.portfolio == Portfolio() and document.scenarios == PAPER_SCENARIOS
    report = assess_document(document)
    expected = total(assess(Portfolio(), CapgeminiEstimator(load_factors())))
    assert report.totals["gwp_kgco2e"].value == pytest.approx(expected["gwp_kgco2e"].value)
    assert set(report.summary()["scenarios"]) == set(PAPER_SCENARIOS)


def test_overrides_change_the_totals_and_own_scenarios_replace_the_papers():
    base = assess_document(read_document({})).totals["energy_kwh"].value
    document = read_document({"use_cases": 50, "factors": {"pue": 1.5}, "scenarios": {"flat": {"model_size": 2}}})
    assert document.portfolio.use_cases == 50 and list(document.scenarios) == ["flat"]
    report = assess_document(document)
    assert report.totals["energy_kwh"].value != pytest.approx(base)
    assert report.summary()["scenarios"]["flat"]["energy_kwh"] > 100  # bigger models, same usage: above 2024


@pytest.mark.parametrize(
    ("data", "param"),
    [
        ({"use_cases": "many"}, "use_cases"),
        ({"genai_share": None}, "genai_share"),
        ({"region": 5}, "region"),
        ({"user_levels": "abc"}, "user_levels"),
        ({"genai_mix": 3}, "genai_mix"),
        ({"factors": ["pue"]}, "factors"),
        ({"scenarios": {"s": {"usage_growth": 3}}}, "usage_growth"),
        ({"scenarios": {"s": {"usage_growth": {"chat": "x"}}}}, "usage_growth"),
    ],
)
def test_a_value_of_the_wrong_type_names_its_field(data, param):
    with pytest.raises(InvalidRequestError) as refused:
        read_document(data)
    assert refused.value.param == param
