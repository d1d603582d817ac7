"""TE-time accounting: busy, idle and pooled seconds per model, priced like the devices they hold."""

from __future__ import annotations

import pytest

from headwater.config import Settings
from headwater.engine.protocol import EngineInfo
from headwater.platform.footprint import FootprintAccountant
from headwater.platform.te_time import POOL, ExecutorClock


class FakeExecutor:
    def __init__(self, in_flight: int, info: EngineInfo) -> None:
        self.in_flight, self.info = in_flight, info


def test_seconds_go_to_the_right_model_and_state_with_their_energy():
    accountant = FootprintAccountant(Settings())
    clock = ExecutorClock(accountant, started=100.0)
    cpu = EngineInfo(135_000_000, "cpu", 2.0)
    groups = {"m": [FakeExecutor(3, cpu), FakeExecutor(0, cpu)]}
    clock.tick(groups, pooled=[FakeExecutor(0, EngineInfo())], now=110.0)  # 10 s each
    clock.tick({"m": [FakeExecutor(0, cpu)]}, pooled=[], now=115.0)
    entries = {(e.model, e.state): e for e in clock.take(day="2026-12-04")}
    assert entries[("m", "busy")].seconds == pytest.approx(10.0)
    assert entries[("m", "idle")].seconds == pytest.approx(15.0)
    assert entries[(POOL, "pooled")].seconds == pytest.approx(10.0)
    one_second = accountant.held_device_impacts(cpu, 1.0)["energy_kwh"].value
    assert entries[("m", "idle")].energy_kwh == pytest.approx(15.0 * one_second)
    assert entries[(POOL, "pooled")].energy_kwh == pytest.approx(10.0 * one_second)  # on the host's devices
    assert clock.take() == []
