"""The `measured` estimator: energy of a real block of work, read from the machine (CodeCarbon-style).

Sources, in order: Intel/AMD RAPL package counters (`/sys/class/powercap/*-rapl:N/energy_uj`, wrap-around
handled), NVIDIA GPUs through NVML (`pynvml`, total energy since driver load) when a GPU is present, and as a
last resort the CPU's TDP × its measured load (psutil) — an estimate, announced with `EstimatedEnergyWarning`.
The measured IT energy is multiplied by the PUE and turned into the five criteria like every other estimator;
embodied impacts count the machine's logical CPUs as vCPU-hours (GPUs are not counted: their share is unknown).
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from headwater.footprint.factors import PORTFOLIO_REGION, Factors, load_factors
from headwater.footprint.impacts import CRITERIA, Impacts
from headwater.footprint.operational import impacts_from_energy

RAPL_ROOT = Path("/sys/class/powercap")


class EstimatedEnergyWarning(UserWarning):
    """No energy counter was readable: the energy is TDP × CPU load, not a measurement."""


def rapl_packages(root: Path = RAPL_ROOT) -> list[Path]:
    """Top-level RAPL zones (one per CPU package) whose counter is readable; sub-zones would count twice."""
    zones = []
    for zone in sorted(root.glob("*-rapl:*")):
        if zone.name.count(":") == 1 and (zone / "energy_uj").is_file():
            try:
                int((zone / "energy_uj").read_text())
            except (OSError, ValueError):
                continue
            zones.append(zone)
    return zones


def _read_uj(zone: Path) -> int:
    return int((zone / "energy_uj").read_text())


def _range_uj(zone: Path) -> int:
    try:
        return int((zone / "max_energy_range_uj").read_text())
    except (OSError, ValueError):
        return 2**32


def _nvml_handles() -> list[object]:
    try:
        import pynvml
    except ImportError:
        return []
    try:
        pynvml.nvmlInit()
        return [pynvml.nvmlDeviceGetHandleByIndex(i) for i in range(pynvml.nvmlDeviceGetCount())]
    except pynvml.NVMLError:
        return []


def _nvml_joules(handles: list[object]) -> float:
    import pynvml

    return sum(pynvml.nvmlDeviceGetTotalEnergyConsumption(handle) for handle in handles) / 1000.0


@dataclass
class Measurement:
    """Filled in when the measured block ends."""

    method: str = ""
    seconds: float = 0.0
    energy_kwh: float = 0.0
    """IT energy of the machine (before PUE)."""
    impacts: Impacts | None = None
    details: dict[str, float] = field(default_factory=dict)


@contextmanager
def measure(
    factors: Factors | None = None,
    region: str = PORTFOLIO_REGION,
    tdp_w: float | None = None,
    rapl_root: Path = RAPL_ROOT,
) -> Iterator[Measurement]:
    """Measure the energy of the `with` block; `tdp_w` defaults to the vCPU brick × logical CPUs."""
    import psutil

    factors = factors or load_factors()
    result = Measurement()
    zones = rapl_packages(rapl_root)
    gpus = _nvml_handles()
    rapl_start = [_read_uj(zone) for zone in zones]
    gpu_start = _nvml_joules(gpus) if gpus else 0.0
    psutil.cpu_percent(interval=None)
    started = time.perf_counter()
    try:
        yield result
    finally:
        result.seconds = time.perf_counter() - started
        joules = 0.0
        if zones:
            for zone, before in zip(zones, rapl_start, strict=True):
                after = _read_uj(zone)
                joules += ((after - before) % _range_uj(zone)) / 1e6
            result.details["rapl_joules"] = joules
        if gpus:
            gpu_joules = _nvml_joules(gpus) - gpu_start
            result.details["nvml_joules"] = gpu_joules
            joules += gpu_joules
        if zones or gpus:
            result.method = "+".join(name for name, used in (("rapl", zones), ("nvml", gpus)) if used)
        else:
            load = psutil.cpu_percent(interval=None) / 100.0
            watts = tdp_w if tdp_w is not None else factors.brick("vcpu_power_w") * (psutil.cpu_count() or 1)
            joules = watts * load * result.seconds
            result.method = "tdp"
            result.details.update({"tdp_w": watts, "cpu_load": load})
            warnings.warn(
                f"no RAPL or NVML energy counter is readable here: energy estimated as {watts:.1f} W TDP × "
                f"{load:.0%} CPU load; pass tdp_w for your CPU",
                EstimatedEnergyWarning,
                stacklevel=3,
            )
        result.energy_kwh = joules / 3.6e6
        vcpu_hours = (psutil.cpu_count() or 1) * result.seconds / 3600.0
        embodied = {c: vcpu_hours * factors.brick(f"embodied_vcpu_hour_{c}") for c in CRITERIA[1:]}
        energy = result.energy_kwh * factors.brick("pue")
        result.impacts = impacts_from_energy("measured", energy, result.energy_kwh, embodied, factors, region)
