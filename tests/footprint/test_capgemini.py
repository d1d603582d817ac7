"""The capgemini estimator against the paper's printed numbers (Desroches et al., arXiv 2501.14334)."""

from __future__ import annotations

import pytest

from headwater.errors import InvalidRequestError
from headwater.footprint import CapgeminiEstimator, InferenceWorkload, cluster_workload, latency_for, load_factors

# Table 1 of the paper: energy (kWh) of one inference per GenAI cluster.
TABLE_1_GENAI = {
    ("chat", "8B"): 9.31e-5,
    ("chat", "70B"): 1.55e-3,
    ("chat", "405B"): 1.73e-2,
    ("rag", "8B"): 1.56e-4,
    ("rag", "70B"): 2.64e-3,
    ("rag", "405B"): 2.99e-2,
    ("agents", "8B"): 4.97e-4,
    ("agents", "70B"): 8.54e-3,
    ("agents", "405B"): 9.58e-2,
}


@pytest.fixture(scope="module")
def estimator() -> CapgeminiEstimator:
    return CapgeminiEstimator(load_factors())


@pytest.mark.parametrize(("cluster", "expected"), TABLE_1_GENAI.items())
def test_table_1_genai_energy_within_5_percent(estimator, cluster, expected):
    energy = estimator.estimate(cluster_workload(*cluster))["energy_kwh"].value
    assert energy == pytest.approx(expected, rel=0.05)


@pytest.mark.parametrize(("params", "vgpus"), [(8e9, 3), (70e9, 19), (405e9, 106), (1e6, 1)])
def test_vgpu_count_follows_the_memory_rule(estimator, params, vgpus):
    assert estimator.vgpus(params) == vgpus


def test_portfolio_grid_is_the_papers_0_596(estimator):
    assert estimator.factors.grid("portfolio")["gwp_kgco2e_per_kwh"] == pytest.approx(0.596, abs=5e-4)


def test_latency_interpolation_hits_the_papers_points_and_lies_between():
    latencies = load_factors().latencies
    assert latency_for(70e9, latencies) == pytest.approx((0.36, 43.4))
    ttft, speed = latency_for(30e9, latencies)
    assert 0.26 < ttft < 0.36 and 43.4 < speed < 127.0


def test_operational_gwp_is_energy_times_grid_plus_embodied(estimator):
    usa = estimator.estimate(cluster_workload("chat", "70B", region="usa"))
    china = estimator.estimate(cluster_workload("chat", "70B", region="china"))
    energy = usa["energy_kwh"].value
    assert china["gwp_kgco2e"].value - usa["gwp_kgco2e"].value == pytest.approx(energy * (0.871 - 0.547))
    gwp = usa["gwp_kgco2e"]
    assert gwp.low <= gwp.value <= gwp.high and gwp.value > energy * 0.547


def test_overrides_change_the_result(estimator):
    workload = cluster_workload("chat", "8B")
    greener = CapgeminiEstimator(load_factors(overrides={"pue": 1.0})).estimate(workload)
    base = estimator.estimate(workload)["energy_kwh"].value
    assert greener["energy_kwh"].value == pytest.approx(base / 1.15, rel=1e-3)


def test_405b_chat_is_thousands_of_times_an_8b_chat(estimator):
    ratio = (
        estimator.estimate(cluster_workload("chat", "405B"))["energy_kwh"].value
        / estimator.estimate(cluster_workload("chat", "8B"))["energy_kwh"].value
    )
    assert ratio == pytest.approx(1.73e-2 / 9.31e-5, rel=0.05)


@pytest.mark.parametrize("bad", [{"model_params": -1}, {"output_tokens": float("nan")}, {"input_tokens": "many"}])
def test_bad_workloads_name_the_field(bad):
    fields = {"model_params": 8e9, "input_tokens": 10, "output_tokens": 10, **bad}
    with pytest.raises(InvalidRequestError) as error:
        InferenceWorkload(**fields)
    assert error.value.param == next(iter(bad))


def test_unknown_region_lists_the_allowed_ones(estimator):
    with pytest.raises(InvalidRequestError, match="allowed: portfolio, china, eu27, usa"):
        estimator.estimate(cluster_workload("chat", "8B", region="mars"))
