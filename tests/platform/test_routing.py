"""Prefix-aware routing end to end: tiny-chat on 2 TEs under `policy: prefix`; requests sharing a long prefix go to
the TE whose cache events say it holds it."""

from __future__ import annotations

import asyncio
import concurrent.futures
import time

import httpx
import pytest

from headwater.engine.prefix_cache import block_hashes
from headwater.engine.protocol import CacheEvents, EngineRequest, SamplingParams
from headwater.platform.cache_view import CacheView
from headwater.platform.scheduler import Scheduler
from headwater.platform.store import Store
from headwater.platform.te_group import TEGroup
from tests.conftest import start_server

PREFIX = " ".join(f"rule {i}: answer briefly and stay polite." for i in range(30))


@pytest.fixture(scope="module")
def two_tes(tmp_path_factory, tiny_chat_path):
    folder = tmp_path_factory.mktemp("routing")
    catalogue = folder / "models.yaml"
    entry = f"  - model: {tiny_chat_path}\n    name: tiny-two\n    min_tes: 2\n    max_tes: 2\n    policy: prefix\n"
    catalogue.write_text("models:\n" + entry)
    store = Store(f"sqlite:///{folder / 'headwater.db'}")
    admin_key = store.create_api_key("admin")[1]
    store.engine.dispose()
    server = start_server(None, folder, "tiny-two", {"HEADWATER_POOL_SIZE": "0"}, ["--models", str(catalogue)])
    server.admin_key = admin_key  # type: ignore[attr-defined]
    yield server
    server.stop()


def _complete(server, prompt: str) -> dict:
    response = httpx.post(
        server.base_url + "/completions",
        json={"model": "tiny-two", "prompt": prompt, "max_tokens": 2, "temperature": 0},
        headers={"Authorization": f"Bearer {server.api_key}"},
        timeout=60,
    )
    assert response.status_code == 200, response.text
    return response.json()


def _tes(server) -> list[dict]:
    response = httpx.get(
        server.base_url + "/admin/executors", headers={"Authorization": f"Bearer {server.admin_key}"}, timeout=30
    )
    assert response.status_code == 200, response.text
    (model,) = [m for m in response.json()["models"] if m["name"] == "tiny-two"]
    assert model["policy"] == "prefix"
    return model["tes"]


def _wait(condition, what: str, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)
    return value


def test_requests_sharing_a_prefix_go_to_the_te_holding_it(two_tes):
    """Once one TE reports the prefix, concurrent requests over it all go there (least_load would split them
    between the TEs and round_robin alternate)."""
    _complete(two_tes, PREFIX + " Question 0?")
    _wait(lambda: any(te["cache"]["blocks"] for te in _tes(two_tes)), "the cache events")
    holder = next(te["id"] for te in _tes(two_tes) if te["cache"]["blocks"])
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda i: _complete(two_tes, PREFIX + f" Question {i}?"), range(1, 5)))
    by_id = {te["id"]: te["cache"] for te in _tes(two_tes)}
    assert by_id[holder]["queries"] == 5 and by_id[holder]["hits"] == 4, by_id
    assert sum(cache["queries"] for cache in by_id.values()) == 5, by_id
    text = httpx.get(two_tes.base_url.removesuffix("/v1") + "/metrics", timeout=5).text
    assert 'headwater:routing_decisions{model="tiny-two",policy="prefix",reason="prefix"} 5.0' in text
    other = next(te_id for te_id in by_id if te_id != holder)
    for metric, te_id, value in [("queries", holder, 5), ("hits", holder, 4), ("queries", other, 0)]:
        assert f'headwater:prefix_cache_{metric}{{model="tiny-two",te="{te_id}"}} {value}.0' in text, text


class _ViewOnly:
    """A ready TE as the group sees it: in flight and a cache view."""

    def __init__(self, name: str, in_flight: int) -> None:
        self.name, self.in_flight, self.state = name, in_flight, "ready"
        self.cache_view = CacheView()


def test_the_group_routes_on_each_tes_salted_cache_view():
    prompt = list(range(100))
    busy, idle = _ViewOnly("busy", 3), _ViewOnly("idle", 0)
    busy.cache_view.apply(CacheEvents(32, block_hashes(prompt, 32, "acme")))
    idle.cache_view.apply(CacheEvents(32, []))
    group = TEGroup("m")
    group.executors.extend([busy, idle])
    group.scheduler = Scheduler("prefix")

    def route(salt: str | None, pinned: bool = False) -> str:
        request = EngineRequest("r", prompt, SamplingParams(), cache_salt=salt)
        return asyncio.run(group.executor(request=request, pinned=pinned)).name

    assert route("acme") == "busy"  # acme's prefix lives there
    assert route("globex") == "idle"  # another tenant's identical prompt matches nothing: least loaded
    assert (busy.cache_view.queries, busy.cache_view.hits, idle.cache_view.queries) == (1, 1, 1)
    group.scheduler = Scheduler("least_load")
    assert route("acme") == "idle" and route("acme", pinned=True) == "busy"  # a context pins whatever the policy
    assert group.scheduler.decisions == {"least_load": 1, "context": 1}
