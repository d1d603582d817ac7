"""Footprint accounting on the serving path: the request's measured time reaches the estimator."""

from __future__ import annotations

import pytest

from headwater.config import Settings
from headwater.engine.protocol import EngineInfo
from headwater.footprint import EcologitsEstimator, InferenceWorkload
from headwater.platform.footprint import FootprintAccountant

SMOLLM = EngineInfo(135_000_000, "cpu", 2.0)


@pytest.fixture(scope="module")
def ecologits() -> FootprintAccountant:
    return FootprintAccountant(Settings(footprint_estimator="ecologits", footprint_region="usa"))


def test_ecologits_caps_generation_time_at_the_measured_latency(ecologits):
    """100 tokens of a 135M model: the fit says 3.95 s; served in 1 s, the server and embodied shares are for 1 s."""
    served_in_1s = ecologits.impacts(SMOLLM, 40, 100, 1.0, 1.0)
    estimator = EcologitsEstimator(ecologits.factors)
    expected = estimator.estimate(InferenceWorkload(135e6, 40, 100, region="usa"), request_latency=1.0)
    assert served_in_1s.to_dict() == expected.to_dict()
    gpu_kwh = estimator.gpu_kwh(0.135, 100)
    assert served_in_1s["energy_kwh"].value == pytest.approx(1.15 * (1 / 3600 * 1.2 / 8 / 64 + gpu_kwh), rel=1e-12)


def test_ecologits_charges_no_more_than_the_fit_for_a_slow_request(ecologits):
    fast, slow, slower = (ecologits.impacts(SMOLLM, 40, 100, seconds, 1.0) for seconds in (1.0, 10.0, 100.0))
    assert fast["gwp_kgco2e"].value < slow["gwp_kgco2e"].value
    assert slow.to_dict() == slower.to_dict()  # both above the fitted 3.95 s: the fit holds
