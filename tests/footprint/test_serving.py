"""Impacts of a served request on the hardware it ran on."""

from __future__ import annotations

import pytest

from headwater.errors import InvalidRequestError
from headwater.footprint import load_factors
from headwater.footprint.serving import ServedRequest, ServingDevice, served_request_impacts


@pytest.fixture(scope="module")
def factors():
    return load_factors()


def test_energy_is_device_power_times_its_share_of_time(factors):
    device = ServingDevice("cpu", 4)
    alone = served_request_impacts(ServedRequest(0, 0, 3600.0, 1.0), device, factors)
    assert alone["energy_kwh"].value == pytest.approx(4 * 3.15 / 1000 * 1.15)
    shared = served_request_impacts(ServedRequest(0, 0, 3600.0, 4.0), device, factors)
    assert shared["energy_kwh"].value == pytest.approx(alone["energy_kwh"].value / 4)


def test_configured_power_and_gpu_bricks(factors):
    gpu = served_request_impacts(ServedRequest(0, 0, 3600.0), ServingDevice("gpu", 8), factors)
    assert gpu["energy_kwh"].value == pytest.approx(8 * 50.1 / 1000 * 1.15)
    measured = served_request_impacts(ServedRequest(0, 0, 3600.0), ServingDevice("gpu", 8, power_w=700), factors)
    assert measured["energy_kwh"].value == pytest.approx(0.7 * 1.15)
    assert measured["gwp_kgco2e"].value > gpu["gwp_kgco2e"].value


def test_tokens_add_storage_and_network(factors):
    device = ServingDevice("cpu", 1)
    empty = served_request_impacts(ServedRequest(0, 0, 1.0), device, factors)
    chatty = served_request_impacts(ServedRequest(1000, 1000, 1.0), device, factors)
    gigabytes = 2000 * 4 / 1e9
    expected = gigabytes * (8760 * 1.25e-3 / 1000 * 1.15 + 0.0342)
    assert chatty["energy_kwh"].value - empty["energy_kwh"].value == pytest.approx(expected)


def test_bad_devices_and_times_are_refused(factors):
    with pytest.raises(InvalidRequestError):
        ServingDevice("tpu", 1)  # type: ignore[arg-type]
    with pytest.raises(InvalidRequestError):
        ServingDevice("cpu", 0)
    with pytest.raises(InvalidRequestError, match="seconds"):
        served_request_impacts(ServedRequest(1, 1, float("nan")), ServingDevice("cpu", 1), factors)
