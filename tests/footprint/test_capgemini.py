"""The capgemini estimator against the paper's printed numbers (Desroches et al., arXiv 2501.14334)."""

from __future__ import annotations

import pytest

from headwater.errors import InvalidRequestError
from headwater.footprint import CapgeminiEstimator, InferenceWorkload, cluster_workload, latency_for, load_factors
from tests.footprint.paper_tables import TABLE_1, TABLE_33


@pytest.fixture(scope="module")
def estimator() -> CapgeminiEstimator:
    return CapgeminiEstimator(load_factors())


@pytest.mark.parametrize(("cluster", "expected"), TABLE_1.items(), ids=str)
def test_table_1_energy_within_5_percent(estimator, cluster, expected):
    assert estimator.estimate(cluster_workload(*cluster))["energy_kwh"].value == pytest.approx(expected, rel=0.05)


@pytest.mark.parametrize(("cluster", "expected"), TABLE_33.items(), ids=str)
def test_table_33_impacts_within_5_percent(estimator, cluster, expected):
    impacts = estimator.estimate(cluster_workload(*cluster))
    measured = [impacts[c].value for c in ("gwp_kgco2e", "water_m3eq", "pe_mj", "adpe_kgsbeq")]
    assert measured == pytest.approx(list(expected), rel=0.05)


def test_405b_chat_against_nlp_is_the_headline_4600x(estimator):
    chat = estimator.estimate(cluster_workload("chat", "405B"))["energy_kwh"].value
    nlp = estimator.estimate(cluster_workload("nlp"))["energy_kwh"].value
    assert chat / nlp == pytest.approx(4600, rel=0.05)


@pytest.mark.parametrize(("params", "vgpus"), [(8e9, 3), (70e9, 19), (405e9, 106), (1e6, 1)])
def test_vgpu_count_follows_the_memory_rule(estimator, params, vgpus):
    assert estimator.vgpus(params) == vgpus


def test_portfolio_grid_is_the_papers_mix(estimator):
    grid = estimator.factors.grid("portfolio")
    assert grid["gwp_kgco2e_per_kwh"] == pytest.approx(0.596, abs=5e-4)
    assert grid["water_m3eq_per_kwh"] == pytest.approx(0.02249, rel=1e-3)


def test_latency_table_follows_prompt_length():
    latencies = load_factors().latencies
    assert latency_for(70e9, latencies, prompt_tokens=126) == pytest.approx((0.36, 43.4))
    assert latency_for(70e9, latencies, prompt_tokens=5333) == pytest.approx((0.43, 44.0))
    ttft, speed = latency_for(30e9, latencies)
    assert 0.26 < ttft < 0.36 and 43.4 < speed < 127.0


def test_operational_gwp_moves_with_the_grid(estimator):
    usa = estimator.estimate(cluster_workload("chat", "70B", region="usa"))
    china = estimator.estimate(cluster_workload("chat", "70B", region="china"))
    energy = usa["energy_kwh"].value
    assert china["gwp_kgco2e"].value - usa["gwp_kgco2e"].value == pytest.approx(energy * (0.871 - 0.547))
    gwp = usa["gwp_kgco2e"]
    assert gwp.low <= gwp.value <= gwp.high and gwp.value > energy * 0.547


def test_overrides_change_the_result(estimator):
    workload = cluster_workload("chat", "8B")
    base = estimator.estimate(workload)["energy_kwh"].value
    greener = CapgeminiEstimator(load_factors(overrides={"pue": 1.0})).estimate(workload)["energy_kwh"].value
    assert greener == pytest.approx(base / 1.15, rel=2e-3)


def test_tool_calls_add_nlp_inferences(estimator):
    plain = InferenceWorkload(8e9, 400, 390, llm_calls=3)
    with_tools = InferenceWorkload(8e9, 400, 390, llm_calls=3, nlp_calls=3)
    nlp = estimator.estimate(cluster_workload("nlp"))["energy_kwh"].value
    difference = estimator.estimate(with_tools)["energy_kwh"].value - estimator.estimate(plain)["energy_kwh"].value
    assert difference == pytest.approx(3 * nlp)


@pytest.mark.parametrize(
    "bad", [{"model_params": -1}, {"output_tokens": float("nan")}, {"input_tokens": "many"}, {"nlp_calls": -2}]
)
def test_bad_workloads_name_the_field(bad):
    fields = {"model_params": 8e9, "input_tokens": 10, "output_tokens": 10, **bad}
    with pytest.raises(InvalidRequestError) as error:
        InferenceWorkload(**fields)
    assert error.value.param == next(iter(bad))


def test_unknown_region_and_use_case_list_the_allowed_ones(estimator):
    with pytest.raises(InvalidRequestError, match="allowed: portfolio, china, eu27, usa"):
        estimator.estimate(cluster_workload("chat", "8B", region="mars"))
    with pytest.raises(InvalidRequestError, match="allowed: chat, rag, agents, tabular, vision, nlp"):
        cluster_workload("poetry", "8B")
    with pytest.raises(InvalidRequestError, match="takes no size"):
        cluster_workload("vision", "8B")
