"""Our `ecologits` estimator: the published method, checked by hand and against the package when installed."""

from __future__ import annotations

import math

import pytest

from headwater.footprint import InferenceWorkload, load_factors
from headwater.footprint.ecologits import EcologitsEstimator, ecologits_constants, package_energy_kwh


@pytest.fixture(scope="module")
def estimator() -> EcologitsEstimator:
    return EcologitsEstimator(load_factors())


def test_gpu_count_rounds_up_to_a_power_of_two(estimator):
    assert [estimator.gpus(p) for p in (8e9, 70e9, 405e9)] == [1, 4, 16]


def test_energy_by_hand_for_one_request(estimator):
    c = ecologits_constants()
    tokens, active = 200, 70.0
    gpu_kwh = (
        tokens * (c["gpu_energy_alpha"] * math.exp(c["gpu_energy_beta"] * 64) * active + c["gpu_energy_gamma"]) / 1000
    )
    seconds = tokens * (c["latency_alpha"] * active + c["latency_beta"] * 64 + c["latency_gamma"])
    server_kwh = seconds / 3600 * 1.2 * 4 / 8 / 64
    expected = 1.15 * (server_kwh + 4 * gpu_kwh)
    impacts = estimator.estimate(InferenceWorkload(70e9, 100, tokens))
    assert impacts["energy_kwh"].value == pytest.approx(expected, rel=1e-12)


def test_mixture_of_experts_uses_active_parameters(estimator):
    dense = estimator.estimate(InferenceWorkload(47e9, 100, 200))
    sparse = estimator.estimate(InferenceWorkload(47e9, 100, 200), active_params=13e9)
    assert sparse["energy_kwh"].value < dense["energy_kwh"].value


def test_agrees_with_the_ecologits_package(estimator):
    pytest.importorskip("ecologits.impacts.llm", reason="the ecologits package is not installed")
    for params in (8e9, 70e9, 405e9):
        workload = InferenceWorkload(params, 100, 208.45, region="usa")
        reference = package_energy_kwh(workload, estimator.factors)
        assert estimator.estimate(workload)["energy_kwh"].value == pytest.approx(reference, rel=1e-9)
