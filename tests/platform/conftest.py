"""Platform fixtures: the executor backends the serving tests run on (local processes, and Ray actors on one local
Ray instance per test session), and headless Chromium for the web apps' end-to-end tests."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

RAY_TEST_CPUS = 8
"""Logical CPUs of the test instance: more than the cores, so a module's TEs (pool, scale-ups, an added model)
all fit; Ray's CPUs are reservations, not cores."""
RAY_TEST_GPUS = 2
"""Logical GPUs, so a multi-device TE's placement group can be made on a CPU machine (nothing runs on them)."""


@pytest.fixture(scope="session")
def ray_address() -> Iterator[str]:
    """A local Ray instance shared by the session's Ray tests (starting one costs seconds); its address, for
    servers to join with HEADWATER_RAY_ADDRESS. Skipped, with the reason, only when Ray cannot start here."""
    try:
        import ray
    except ImportError as error:
        pytest.skip(f"Ray is not installed ({error}); `pip install -e '.[dev]'` installs it")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    try:
        ray.init(
            address="local",
            num_cpus=RAY_TEST_CPUS,
            num_gpus=RAY_TEST_GPUS,
            include_dashboard=False,
            object_store_memory=128 * 1024**2,
            log_to_driver=False,
        )
    except Exception as error:  # any reason Ray cannot start (no /dev/shm room, ports): skip, saying why
        pytest.skip(f"a local Ray instance cannot start here: {type(error).__name__}: {error}")
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()


@pytest.fixture(scope="module", params=["local", pytest.param("ray", marks=pytest.mark.ray)])
def executor_backend(request: pytest.FixtureRequest) -> dict[str, str]:
    """The environment a test server needs to run its TEs on this backend (`{}`: local processes)."""
    if request.param == "local":
        return {}
    address = request.getfixturevalue("ray_address")
    return {"HEADWATER_EXECUTOR": "ray", "HEADWATER_RAY_ADDRESS": address, "HEADWATER_TE_NUM_GPUS": "0"}


CHROMIUM = Path("/usr/bin/chromium")
# Without the background-networking flags Chromium keeps dialling Google's hosts, which a closed network refuses.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """Debian's headless Chromium driven by Playwright; skipped, with the reason, when either is missing."""
    if not CHROMIUM.exists():
        pytest.skip("Debian chromium is not installed (apt-get install chromium)")
    try:
        from playwright.sync_api import Error, sync_playwright
    except ImportError:
        pytest.skip("playwright is not installed")
    with sync_playwright() as playwright:
        try:
            chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        except Error as error:
            pytest.skip(f"chromium cannot start here: {str(error)[:300]}")
        yield chromium
        chromium.close()
