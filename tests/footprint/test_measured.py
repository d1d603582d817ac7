"""The measured estimator: RAPL counters (a fake sysfs tree), and the TDP fallback that warns."""

from __future__ import annotations

import threading
import time

import pytest

from headwater.footprint.measured import EstimatedEnergyWarning, measure, rapl_packages
from tests.waiting import wait_for


def _zone(root, name, energy_uj, max_range=None):
    zone = root / name
    zone.mkdir(parents=True)
    (zone / "energy_uj").write_text(str(energy_uj))
    if max_range is not None:
        (zone / "max_energy_range_uj").write_text(str(max_range))
    return zone


def test_rapl_packages_skip_subzones_and_unreadable(tmp_path):
    _zone(tmp_path, "intel-rapl:0", 5)
    _zone(tmp_path, "intel-rapl:0:0", 5)
    (tmp_path / "intel-rapl:1").mkdir()
    assert [zone.name for zone in rapl_packages(tmp_path)] == ["intel-rapl:0"]


def test_rapl_energy_with_wraparound(tmp_path):
    package0 = _zone(tmp_path, "intel-rapl:0", 1_000_000)
    package1 = _zone(tmp_path, "amd-rapl:1", 999_000_000, max_range=1_000_000_000)
    with measure(rapl_root=tmp_path) as result:
        (package0 / "energy_uj").write_text(str(4_600_000))  # +3.6 J
        (package1 / "energy_uj").write_text(str(2_600_000))  # wrapped: +3.6 J
    assert result.method == "rapl"
    assert result.energy_kwh == pytest.approx(7.2 / 3.6e6)
    assert result.impacts["energy_kwh"].value == pytest.approx(result.energy_kwh * 1.15)
    assert result.impacts.estimator == "measured"


def test_without_counters_it_estimates_from_tdp_and_says_so(tmp_path):
    def spin(stop: threading.Event) -> None:
        while not stop.is_set():
            sum(range(1000))

    stop = threading.Event()
    worker = threading.Thread(target=spin, args=(stop,))
    with pytest.warns(EstimatedEnergyWarning, match="TDP"), measure(rapl_root=tmp_path, tdp_w=100.0) as result:
        started = time.process_time()
        worker.start()
        wait_for(lambda: time.process_time() - started > 0.2, "the worker to use 0.2 s of CPU")
        stop.set()
        worker.join()
    assert result.method == "tdp"
    assert 0 < result.details["cpu_load"] <= 1
    assert result.energy_kwh == pytest.approx(100.0 * result.details["cpu_load"] * result.seconds / 3.6e6)
    assert result.impacts["gwp_kgco2e"].value > 0
