"""Serverless serving, end to end on tiny-chat: a catalogue with a model at zero, scale-up from the pool when
requests arrive (none fails), scale back to zero when idle, admin add/remove at run time, and `headwater ps`."""

from __future__ import annotations

import concurrent.futures
import contextlib
import json
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from headwater.models.gguf import gguf_cache_folder, resolve_gguf
from headwater.platform.store import Store
from tests.conftest import start_server


@pytest.fixture(scope="module")
def serverless(tmp_path_factory, tiny_chat_path, data_dir, executor_backend):
    """The catalogue server, once per executor backend (local processes, Ray actors)."""
    folder = tmp_path_factory.mktemp("serverless")
    catalogue = folder / "models.yaml"
    catalogue.write_text(
        "models:\n"
        f"  - model: {tiny_chat_path}\n"
        "    name: tiny-zero\n"
        "    min_tes: 0\n"
        "    max_tes: 2\n"
        "    idle_timeout_s: 3\n"
        "    target_in_flight: 4\n"
    )
    store = Store(f"sqlite:///{folder / 'headwater.db'}")
    admin_key = store.create_api_key("admin")[1]
    store.engine.dispose()
    env = {
        "HEADWATER_POOL_SIZE": "1",
        "HEADWATER_AUTOSCALE_PERIOD_S": "0.2",
        "HEADWATER_ACTIVATOR_TIMEOUT_S": "90",
        **executor_backend,
    }
    server = start_server(None, folder, "tiny-zero", env, ["--models", str(catalogue)])
    server.admin_key = admin_key  # type: ignore[attr-defined]
    yield server
    server.stop()


def _get(server, path: str, key: str) -> httpx.Response:
    return httpx.get(server.base_url + path, headers={"Authorization": f"Bearer {key}"}, timeout=30)


def _executors(server) -> dict:
    response = _get(server, "/admin/executors", server.admin_key)
    assert response.status_code == 200, response.text
    return response.json()


def _wait_for(condition, timeout: float = 60.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def _chat(server, key: str, model: str = "tiny-zero", max_tokens: int = 4) -> httpx.Response:
    body = {"model": model, "messages": [{"role": "user", "content": "hi"}], "max_tokens": max_tokens}
    return httpx.post(
        server.base_url + "/chat/completions", json=body, headers={"Authorization": f"Bearer {key}"}, timeout=120
    )


def test_a_model_at_zero_is_listed_and_requests_bring_it_up_from_the_pool(serverless, executor_backend):
    listed = [model["id"] for model in _get(serverless, "/models", serverless.api_key).json()["data"]]
    assert "tiny-zero" in listed
    _wait_for(lambda: len(_executors(serverless)["pool"]) == 1, what="a pre-warmed TE in the pool")
    state = _executors(serverless)
    assert state["models"][0]["tes"] == [] and state["pool"][0]["state"] == "pooled"
    on_ray = executor_backend.get("HEADWATER_EXECUTOR") == "ray"
    assert (state["pool"][0]["actor"] is not None) == on_ray  # a Ray TE is an actor (here on this node: with a pid)
    assert state["pool"][0]["pid"] is not None
    with concurrent.futures.ThreadPoolExecutor(16) as threads:
        statuses = [r.status_code for r in threads.map(lambda _: _chat(serverless, serverless.api_key), range(16))]
    assert statuses == [200] * 16  # none failed because the model was at zero
    tes = _executors(serverless)["models"][0]["tes"]
    assert 1 <= len(tes) <= 2 and any(te["state"] == "ready" for te in tes)
    metrics = httpx.get(serverless.base_url.removesuffix("/v1") + "/metrics").text
    assert 'headwater_scale_phase_seconds_count{phase="pool_take",source="pool"}' in metrics
    assert 'phase="weight_load"' in metrics and 'phase="warmup"' in metrics


def test_an_idle_model_scales_back_to_zero_and_its_te_returns_to_the_pool(serverless):
    assert _chat(serverless, serverless.api_key).status_code == 200
    _wait_for(lambda: _executors(serverless)["models"][0]["tes"] == [], timeout=30, what="scale to zero")
    _wait_for(lambda: len(_executors(serverless)["pool"]) >= 1, what="the pool refilled")
    assert _chat(serverless, serverless.api_key).status_code == 200  # and back up again


def test_admin_adds_and_removes_a_model_at_run_time(serverless, tiny_chat_path):
    headers = {"Authorization": f"Bearer {serverless.admin_key}"}
    entry = {"model": str(tiny_chat_path), "name": "tiny-added", "min_tes": 1, "max_tes": 1}
    forbidden = httpx.post(
        serverless.base_url + "/admin/models",
        json=entry,
        headers={"Authorization": f"Bearer {serverless.api_key}"},
        timeout=60,
    )
    assert forbidden.status_code == 403
    added = httpx.post(serverless.base_url + "/admin/models", json=entry, headers=headers, timeout=120)
    assert added.status_code == 200, added.text
    assert _chat(serverless, serverless.api_key, "tiny-added").status_code == 200
    again = httpx.post(serverless.base_url + "/admin/models", json=entry, headers=headers, timeout=60)
    assert again.status_code == 409
    removed = httpx.delete(serverless.base_url + "/admin/models/tiny-added", headers=headers, timeout=60)
    assert removed.status_code == 200
    assert _chat(serverless, serverless.api_key, "tiny-added").status_code == 404
    missing = httpx.delete(serverless.base_url + "/admin/models/tiny-added", headers=headers, timeout=60)
    assert missing.status_code == 404


def test_a_model_that_cannot_load_is_refused_with_its_reason(serverless, tmp_path):
    headers = {"Authorization": f"Bearer {serverless.admin_key}"}
    broken = tmp_path / "broken"
    broken.mkdir()
    response = httpx.post(
        serverless.base_url + "/admin/models", json={"model": str(broken), "name": "broken"}, headers=headers
    )
    assert response.status_code == 400 and "config.json" in response.json()["error"]["message"]
    bad_entry = httpx.post(
        serverless.base_url + "/admin/models", json={"model": "x", "min_tes": 3, "max_tes": 1}, headers=headers
    )
    assert bad_entry.status_code == 400 and "min_tes" in bad_entry.json()["error"]["message"]
    names = [model["name"] for model in _executors(serverless)["models"]]
    assert "broken" not in names and "tiny-zero" in names
    assert _chat(serverless, serverless.api_key).status_code == 200  # the others keep serving


def test_a_gguf_whose_saved_tokenizer_is_broken_is_refused_and_its_te_stopped(serverless):
    """The llamacpp TE starts while the gateway loads the tokenizer; when that load fails, the TE is stopped too
    (with llama-cpp-python installed it would serve otherwise; without it, it fails by itself)."""
    gguf = resolve_gguf("smollm2-135m")
    saved = gguf_cache_folder(gguf, serverless.data_dir)  # this server's own data folder
    saved.mkdir(parents=True)
    (saved / "headwater-gguf.json").write_text(json.dumps({"gguf": str(gguf), "context_length": 2048}))
    headers = {"Authorization": f"Bearer {serverless.admin_key}"}
    entry = {"model": "smollm2-135m", "name": "broken-gguf", "engine": "llamacpp"}
    response = httpx.post(serverless.base_url + "/admin/models", json=entry, headers=headers, timeout=120)
    assert response.status_code == 400 and "cannot load the tokenizer saved in" in response.json()["error"]["message"]
    assert "broken-gguf" not in [model["name"] for model in _executors(serverless)["models"]]
    its_te = [str(gguf), str(serverless.data_dir)]
    _wait_for(lambda: not _processes_naming(its_te), timeout=30, what="the model's TE stopped")
    assert _chat(serverless, serverless.api_key).status_code == 200


def _processes_naming(texts: list[str]) -> list[int]:
    """Processes whose command line holds each of `texts` (a TE's holds its model's path and data folder)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                command = (entry / "cmdline").read_bytes()
                if all(text.encode() in command for text in texts):
                    found.append(int(entry.name))
    return found


def test_admins_see_the_te_time_in_the_footprint_and_tenants_do_not(serverless):
    assert _chat(serverless, serverless.api_key).status_code == 200
    time.sleep(1.5)  # a few autoscaler ticks
    admin = _get(serverless, "/footprint", serverless.admin_key).json()
    states = {(entry["model"], entry["state"]) for entry in admin["executors"]}
    assert ("tiny-zero", "idle") in states or ("tiny-zero", "busy") in states
    assert ("(pool)", "pooled") in states
    assert all(entry["seconds"] > 0 and entry["energy_kwh"] > 0 for entry in admin["executors"])
    assert "executors" not in _get(serverless, "/footprint", serverless.api_key).json()


def test_ps_prints_the_executors_as_json(serverless):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "headwater",
            "ps",
            "--json",
            "--base-url",
            serverless.base_url,
            "--api-key",
            serverless.admin_key,
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    state = json.loads(result.stdout)
    model = next(m for m in state["models"] if m["name"] == "tiny-zero")
    assert {"name", "model", "min_tes", "max_tes", "tes"} <= set(model)
    assert all({"id", "state", "pid"} <= set(te) for te in state["pool"])
    refused = subprocess.run(
        [sys.executable, "-m", "headwater", "ps", "--base-url", serverless.base_url, "--api-key", serverless.api_key],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode == 2 and "admin" in refused.stderr
