"""Our `ecologits` estimator: the published method, checked by hand and against the `ecologits` package.

The package is the reference (installed by the Makefile at the pinned `REFERENCE_VERSION`); a missing or different
package fails these tests rather than skipping them, so a run of `make test` can never pass without the check.
"""

from __future__ import annotations

import math
from importlib import metadata
from pathlib import Path

import pytest

from headwater.errors import InvalidRequestError
from headwater.footprint import InferenceWorkload, load_factors
from headwater.footprint.ecologits import (
    REFERENCE_VERSION,
    EcologitsEstimator,
    ecologits_constants,
    package_request,
)

MAKEFILE = Path(__file__).resolve().parents[2] / "Makefile"
PIN = f"ecologits=={REFERENCE_VERSION}"
EMBODIED = {"gwp_kgco2e": "gwp", "pe_mj": "pe", "adpe_kgsbeq": "adpe"}


@pytest.fixture(scope="module")
def estimator() -> EcologitsEstimator:
    return EcologitsEstimator(load_factors())


def reference(workload: InferenceWorkload, estimator: EcologitsEstimator, **kwargs: float | None) -> dict[str, float]:
    """The package's DAG for the same request; fails (never skips) when the package is not installed."""
    result = package_request(workload, estimator.factors, **kwargs)
    if result is None:
        pytest.fail(f"the reference package ecologits is not installed: run `make test` or pip install --no-deps {PIN}")
    return result


def test_gpu_count_rounds_up_to_a_power_of_two(estimator):
    assert [estimator.gpus(p) for p in (135e6, 8e9, 70e9, 405e9)] == [1, 1, 4, 16]


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


def test_generation_time_is_capped_at_the_measured_latency(estimator):
    fitted = estimator.generation_seconds(0.135, 100)
    assert fitted == pytest.approx(3.953, abs=1e-3)  # 100 × (α_L·0.135 + β_L·64 + γ_L)
    assert estimator.generation_seconds(0.135, 100, request_latency=1.0) == 1.0
    assert estimator.generation_seconds(0.135, 100, request_latency=10.0) == fitted


def test_deployment_throughput_and_ttft_replace_the_fit(estimator):
    assert estimator.generation_seconds(70.0, 300, throughput=40.0, ttft=0.4) == pytest.approx(300 / 40 + 0.4)
    assert estimator.generation_seconds(70.0, 300, request_latency=5.0, throughput=40.0, ttft=0.4) == 5.0
    fitted = estimator.generation_seconds(8.0, 100)
    assert estimator.generation_seconds(8.0, 100, ttft=0.3) == pytest.approx(fitted + 0.3)


def test_135m_model_serving_100_tokens_in_1s_by_hand(estimator):
    """The cap shortens the server's share and the embodied share; the GPU energy per token stays."""
    workload = InferenceWorkload(135e6, 40, 100)
    capped = estimator.request(workload, request_latency=1.0)
    gpu_kwh = estimator.gpu_kwh(0.135, 100)
    assert capped.energy_kwh == pytest.approx(1.15 * (1 / 3600 * 1.2 / 8 / 64 + gpu_kwh), rel=1e-12)
    life = 3 * 365 * 24 * 3600
    assert capped.embodied["gwp_kgco2e"] == pytest.approx(1.0 * (5700 / 8 + 273) / (life * 64), rel=1e-12)
    uncapped = estimator.request(workload)
    assert uncapped.embodied["gwp_kgco2e"] / capped.embodied["gwp_kgco2e"] == pytest.approx(3.953, abs=1e-3)


def test_135m_model_serving_100_tokens_in_1s_matches_the_package(estimator):
    workload = InferenceWorkload(135e6, 40, 100, region="usa")
    ours = estimator.request(workload, request_latency=1.0)
    theirs = reference(workload, estimator, request_latency=1.0)
    assert ours.energy_kwh == pytest.approx(theirs["request_energy"], rel=1e-9)
    assert ours.embodied["gwp_kgco2e"] == pytest.approx(theirs["request_embodied_gwp"], rel=1e-9)


@pytest.mark.parametrize(
    ("params", "tokens", "active", "latency", "deployment"),
    [
        (8e9, 208.45, None, None, {}),
        (70e9, 208.45, None, None, {}),
        (405e9, 208.45, None, None, {}),
        (135e6, 100, None, 1.0, {}),
        (70e9, 500, None, 3.0, {}),
        (70e9, 50, None, 1e4, {}),  # measured latency above the fit: no cap
        (47e9, 300, 13e9, 2.5, {}),  # mixture of experts
        (70e9, 300, None, None, {"throughput": 40.0, "ttft": 0.4}),  # deployment figures replace the fit
        (70e9, 300, None, 5.0, {"throughput": 40.0, "ttft": 0.4}),  # … and the measured latency caps them
        (8e9, 100, None, None, {"ttft": 0.3}),
    ],
)
def test_agrees_with_the_ecologits_package(estimator, params, tokens, active, latency, deployment):
    """Energy, generation time and embodied GWP/PE/ADPe equal the package's; our GWP/PE/ADPe totals are its usage
    + embodied on the same grid and PUE, plus our cooling-water term (which EcoLogits does not have)."""
    workload = InferenceWorkload(params, 100, tokens, region="usa")
    theirs = reference(workload, estimator, active_params=active, request_latency=latency, **deployment)
    ours = estimator.request(workload, active_params=active, request_latency=latency, **deployment)
    impacts = estimator.estimate(workload, active_params=active, request_latency=latency, **deployment)
    assert ours.generation_seconds == pytest.approx(theirs["generation_latency"], rel=1e-9)
    assert ours.it_kwh == pytest.approx(theirs["request_it_energy"], rel=1e-9)
    assert impacts["energy_kwh"].value == pytest.approx(theirs["request_energy"], rel=1e-9)
    litres = theirs["request_it_energy"] * estimator.factors.brick("wue_l_per_kwh")
    for criterion, key in EMBODIED.items():
        assert ours.embodied[criterion] == pytest.approx(theirs[f"request_embodied_{key}"], rel=1e-9)
        cooling = litres * estimator.factors.brick(f"cooling_water_{criterion}_per_l")
        total = theirs[f"request_usage_{key}"] + theirs[f"request_embodied_{key}"] + cooling
        assert impacts[criterion].value == pytest.approx(total, rel=1e-9)


def test_without_cooling_water_our_totals_are_ecologits_totals():
    """The documented way to get EcoLogits' GWP/PE/ADPe: zero the per-litre impacts of cooling water."""
    zero = {f"cooling_water_{criterion}_per_l": 0 for criterion in EMBODIED}
    official = EcologitsEstimator(load_factors(overrides=zero))
    workload = InferenceWorkload(135e6, 40, 100, region="eu27")
    impacts = official.estimate(workload, request_latency=1.0)
    theirs = reference(workload, official, request_latency=1.0)
    for criterion, key in EMBODIED.items():
        total = theirs[f"request_usage_{key}"] + theirs[f"request_embodied_{key}"]
        assert impacts[criterion].value == pytest.approx(total, rel=1e-12)


def test_reference_package_is_the_pinned_version():
    try:
        installed = metadata.version("ecologits")
    except metadata.PackageNotFoundError:
        pytest.fail(f"the reference package ecologits is not installed: run `make test` or pip install --no-deps {PIN}")
    assert installed == REFERENCE_VERSION, f"ecologits {installed} installed; the reference is {REFERENCE_VERSION}"
    assert f"$(PIP) --no-deps {PIN}" in MAKEFILE.read_text(), "the Makefile must install the pinned reference"


def test_mixture_of_experts_uses_active_parameters(estimator):
    dense = estimator.estimate(InferenceWorkload(47e9, 100, 200))
    sparse = estimator.estimate(InferenceWorkload(47e9, 100, 200), active_params=13e9)
    assert sparse["energy_kwh"].value < dense["energy_kwh"].value


BAD = [-1.0, math.nan, math.inf, True, "1"]


@pytest.mark.parametrize(
    ("name", "value"),
    [("request_latency", 0.0), ("throughput", 0.0)]
    + [(name, value) for name in ("request_latency", "throughput", "ttft") for value in BAD],
)
def test_a_bad_timing_is_an_error_naming_it(estimator, name, value):
    with pytest.raises(InvalidRequestError, match=f"^{name} must be a"):
        estimator.estimate(InferenceWorkload(8e9, 100, 200), **{name: value})
