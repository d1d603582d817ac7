"""A task executor killed mid-stream: in-flight requests fail with a clear 503 at once, and the TE comes back."""

from __future__ import annotations

import os
import signal
import threading
import time

import httpx
import pytest

from headwater.platform.store import Store
from tests.conftest import start_server

openai = pytest.importorskip("openai")


@pytest.fixture(scope="module")
def fragile_server(tmp_path_factory, saved_tiny_model):
    running = start_server(
        saved_tiny_model,
        tmp_path_factory.mktemp("fragile"),
        "tiny-local",
        {"HEADWATER_KV_BLOCKS": "24", "HEADWATER_KV_BLOCK_SIZE": "32", "HEADWATER_POOL_SIZE": "0"},
    )
    yield running
    running.stop()


@pytest.fixture(scope="module")
def roomy_server(tmp_path_factory, saved_tiny_model, executor_backend):
    """Room in the cache for two 700-token requests at once, so both are generating when the TE is killed; once
    per executor backend (for Ray, the pid is the actor's worker process on this node)."""
    running = start_server(
        saved_tiny_model,
        tmp_path_factory.mktemp("roomy"),
        "tiny-local",
        {"HEADWATER_KV_BLOCKS": "64", "HEADWATER_KV_BLOCK_SIZE": "32", "HEADWATER_POOL_SIZE": "0", **executor_backend},
    )
    yield running
    running.stop()


def _te_pid(server) -> int:
    return server.health()["models"][server.model][0]["pid"]


def test_killed_executor_fails_streams_with_503_and_restarts(roomy_server):
    server = roomy_server
    client = openai.OpenAI(base_url=server.base_url, api_key=server.api_key, max_retries=0, timeout=60)
    pid = _te_pid(server)
    errors: list[Exception] = []
    got_tokens = threading.Event()

    def non_streaming() -> None:
        try:
            client.chat.completions.create(
                model=server.model, max_tokens=700, temperature=0, messages=[{"role": "user", "content": "long"}]
            )
        except openai.APIStatusError as error:
            errors.append(error)

    # Both requests must be generating when the TE dies (one with no token yet would be retried, as it should):
    # the cache holds both, and the stream starts once the other one is running. Greedy, because a sampled reply
    # may end early (the tiny model's end token) and finish before the kill.
    waiter = threading.Thread(target=non_streaming)
    waiter.start()
    deadline = time.monotonic() + 30
    while server.metric("headwater:num_requests_running") < 1:
        assert time.monotonic() < deadline, "the non-streaming request never started"
        time.sleep(0.05)
    stream = client.chat.completions.create(
        model=server.model,
        max_tokens=700,
        temperature=0,
        stream=True,
        messages=[{"role": "user", "content": "tell me more"}],
    )
    started = time.monotonic()
    with pytest.raises(openai.APIError) as stream_error:
        for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content and not got_tokens.is_set():
                got_tokens.set()
                os.kill(pid, signal.SIGKILL)
    assert got_tokens.is_set()
    assert "did not complete" in str(stream_error.value)
    waiter.join(timeout=30)
    assert time.monotonic() - started < 30, "in-flight requests must fail promptly, not hang"
    assert len(errors) == 1 and errors[0].status_code == 503

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (server.health()["status"] == "ok" and _te_pid(server) != pid):
        time.sleep(0.2)
    assert _te_pid(server) != pid
    assert server.health()["models"][server.model][0]["restarts"] == 1
    response = client.chat.completions.create(
        model=server.model, max_tokens=3, temperature=0, messages=[{"role": "user", "content": "again"}]
    )
    assert response.usage.completion_tokens == 3

    store = Store(f"sqlite:///{server.data_dir / 'headwater.db'}")
    states = sorted(job.state for job in store.list_jobs())
    store.engine.dispose()
    assert states == ["failed", "failed", "succeeded"]
    metrics = httpx.get(server.base_url.removesuffix("/v1") + "/metrics").text
    assert f'headwater:task_executor_restarts{{model="{server.model}"}} 1.0' in metrics


def test_a_request_larger_than_the_kv_cache_is_refused_not_fatal(fragile_server):
    server = fragile_server
    client = openai.OpenAI(base_url=server.base_url, api_key=server.api_key, max_retries=0, timeout=60)
    pid = _te_pid(server)
    with pytest.raises(openai.BadRequestError, match="max_tokens"):
        client.chat.completions.create(model=server.model, max_tokens=730, messages=[{"role": "user", "content": "x"}])
    huge_top_k = httpx.post(
        server.base_url + "/chat/completions",
        headers={"Authorization": f"Bearer {server.api_key}"},
        json={"model": server.model, "max_tokens": 4, "top_k": 2**31, "messages": [{"role": "user", "content": "x"}]},
        timeout=30,
    )
    assert huge_top_k.status_code == 400 and huge_top_k.json()["error"]["param"] == "top_k"
    assert _te_pid(server) == pid and server.health()["status"] == "ok"
