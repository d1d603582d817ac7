"""Cached contexts by id through the HTTP API: create, reuse (cached tokens reported), list, delete, tenant scope,
bad input; and the store's TTL with a fake clock. Also: the same prompt from another tenant reuses nothing."""

from __future__ import annotations

import time

import httpx
import pytest

from headwater.errors import NotFoundError
from headwater.platform.contexts import ContextStore
from headwater.platform.store import Store

SYSTEM = " ".join(f"Policy {i}: be exact, be brief, cite the rule number." for i in range(12))


@pytest.fixture(scope="module")
def other_key(server) -> str:
    store = Store(f"sqlite:///{server.data_dir / 'headwater.db'}")
    try:
        return store.create_api_key("other-tenant")[1]
    finally:
        store.engine.dispose()


def _call(server, method: str, path: str, key: str, body: dict | None = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"}
    return httpx.request(method, server.base_url + path, json=body, headers=headers, timeout=60)


def _chat(server, key: str, messages: list[dict], **extra) -> httpx.Response:
    body = {"model": server.model, "messages": messages, "max_tokens": 2, "temperature": 0, **extra}
    return _call(server, "POST", "/chat/completions", key, body)


def _entries(server) -> float:
    """`headwater:context_cache_entries` in /metrics: the live contexts of every tenant."""
    text = httpx.get(server.base_url.removesuffix("/v1") + "/metrics", timeout=5).text
    return float(
        next(line for line in text.splitlines() if line.startswith("headwater:context_cache_entries ")).split()[1]
    )


def test_a_context_is_reused_by_id_and_scoped_to_its_tenant(server, other_key):
    entries_before = _entries(server)
    created = _call(
        server, "POST", "/contexts", server.api_key,
        {"model": server.model, "messages": [{"role": "system", "content": SYSTEM}], "ttl_s": 600},
    )  # fmt: skip
    assert created.status_code == 200, created.text
    context = created.json()
    assert context["id"].startswith("ctx-") and context["tokens"] > 64 and context["object"] == "context"

    question = [{"role": "user", "content": "Which rule comes first?"}]
    reply = _chat(server, server.api_key, question, context_id=context["id"])
    assert reply.status_code == 200, reply.text
    usage = reply.json()["usage"]
    assert usage["prompt_tokens"] > context["tokens"]
    assert usage["prompt_tokens_details"]["cached_tokens"] >= 64, usage

    listed = _call(server, "GET", "/contexts", server.api_key).json()["data"]
    assert [c["id"] for c in listed] == [context["id"]]
    assert _entries(server) == entries_before + 1
    assert _call(server, "GET", "/contexts", other_key).json()["data"] == []
    for response in (
        _chat(server, other_key, question, context_id=context["id"]),
        _call(server, "DELETE", f"/contexts/{context['id']}", other_key),
    ):
        assert response.status_code == 404 and context["id"] in response.text
        assert response.json()["error"]["param"] == "context_id"

    deleted = _call(server, "DELETE", f"/contexts/{context['id']}", server.api_key)
    assert deleted.status_code == 200 and deleted.json()["deleted"] is True
    assert _entries(server) == entries_before
    assert _chat(server, server.api_key, question, context_id=context["id"]).status_code == 404


def test_another_tenant_with_the_same_prompt_reuses_nothing(server, other_key):
    messages = [{"role": "system", "content": SYSTEM + " Tenant test."}, {"role": "user", "content": "Hello?"}]
    assert _chat(server, server.api_key, messages).status_code == 200
    again = _chat(server, server.api_key, messages).json()["usage"]["prompt_tokens_details"]["cached_tokens"]
    other = _chat(server, other_key, messages).json()["usage"]["prompt_tokens_details"]["cached_tokens"]
    assert again >= 64 and other == 0


def test_a_prompt_context_serves_completions(server):
    created = _call(server, "POST", "/contexts", server.api_key, {"model": server.model, "prompt": SYSTEM})
    assert created.status_code == 200, created.text
    context_id = created.json()["id"]
    body = {"model": server.model, "prompt": " Rule 3 says", "max_tokens": 2, "context_id": context_id}
    reply = _call(server, "POST", "/completions", server.api_key, body)
    assert reply.status_code == 200, reply.text
    assert reply.json()["usage"]["prompt_tokens_details"]["cached_tokens"] >= 64
    chat = _chat(server, server.api_key, [{"role": "user", "content": "hi"}], context_id=context_id)
    assert chat.status_code == 400 and "made from a prompt" in chat.text


def test_bad_contexts_are_refused_naming_the_field(server):
    too_long = {"model": server.model, "prompt": "word " * 5000}
    response = _call(server, "POST", "/contexts", server.api_key, too_long)
    assert response.status_code == 400 and response.json()["error"]["param"] == "prompt"
    both = {"model": server.model, "prompt": "x", "messages": [{"role": "user", "content": "y"}]}
    assert _call(server, "POST", "/contexts", server.api_key, both).status_code == 400
    unknown = _chat(server, server.api_key, [{"role": "user", "content": "hi"}], context_id="ctx-nope")
    assert unknown.status_code == 404 and "ctx-nope" in unknown.text


def test_contexts_expire_after_their_ttl():
    now = [1000.0]
    store = ContextStore(clock=lambda: now[0])
    context = store.add("acme", "m", [1, 2, 3], None, ttl_s=60)
    assert store.get("acme", context.id) is context and len(store) == 1
    with pytest.raises(NotFoundError):
        store.get("globex", context.id)
    now[0] += 61
    with pytest.raises(NotFoundError, match=context.id):
        store.get("acme", context.id)
    assert store.list("acme") == [] and len(store) == 0


def _kv_usage_once(server, condition) -> float:
    """KV usage (live requests and pins) once `condition` holds of it, after a small request: the engine takes and
    releases pins as it schedules a request."""
    assert _chat(server, server.api_key, [{"role": "user", "content": "Ping?"}]).status_code == 200
    deadline = time.monotonic() + 30
    while not condition(usage := server.metric("headwater:kv_cache_usage_perc")):
        assert time.monotonic() < deadline, f"KV usage stayed at {usage}"
        time.sleep(0.1)
    return usage


def test_deleting_a_context_unpins_its_kv(server):
    before = _kv_usage_once(server, lambda usage: True)
    prompt = " ".join(f"Clause {i}: hold this until the context is deleted." for i in range(12))
    created = _call(server, "POST", "/contexts", server.api_key, {"model": server.model, "prompt": prompt})
    assert created.status_code == 200, created.text
    pinned = _kv_usage_once(server, lambda usage: usage > before)
    assert _call(server, "DELETE", f"/contexts/{created.json()['id']}", server.api_key).status_code == 200
    assert _kv_usage_once(server, lambda usage: usage < pinned) == pytest.approx(before)
