"""A disaggregated model's groups scale, end to end on tiny-chat: load grows the decode group from 1 to 2 TEs (the
prefill group stays at 1), the new decode TE takes sequences, and the group shrinks back after `idle_timeout_s`;
a pair catalogued with `min_tes: 0` starts at zero, a request held by the activator brings the pair up, and it goes
back to zero when idle. And a cached context (`context_id`) on a mixed group (a colocated TE beside the pair) is
reused, whichever kind holds it, with the same greedy output as the same conversation without it."""

from __future__ import annotations

import json
import threading
from collections import Counter

import httpx
import pytest

from headwater.platform.store import Store
from tests.conftest import start_server
from tests.waiting import wait_for

PROMPT = "Count slowly from one to one hundred, one number per line."


@pytest.fixture(scope="module")
def scaling_server(tmp_path_factory, tiny_chat_path):
    folder = tmp_path_factory.mktemp("pd-scaling")
    catalogue = folder / "models.yaml"
    heatmap = folder / "heatmap.json"  # prompts up to 64 tokens: colocated wins; longer ones: the pair wins
    heatmap.write_text(json.dumps({"prompt_lengths": [64, 10**6], "ratios": [10.0**6], "gain": [[-0.5], [0.5]]}))
    catalogue.write_text(
        "models:\n"
        f"  - model: {tiny_chat_path}\n    name: pd-scale\n    serving_mode: disaggregated\n"
        "    prefill_tes: 1\n    decode_tes: 1\n    max_decode_tes: 2\n    target_in_flight: 2\n"
        "    idle_timeout_s: 2\n    policy: least_load\n"
        f"  - model: {tiny_chat_path}\n    name: pd-zero\n    serving_mode: disaggregated\n"
        "    min_tes: 0\n    idle_timeout_s: 2\n"
        f"  - model: {tiny_chat_path}\n    name: pd-mixed\n    serving_mode: disaggregated\n"
        f"    colocated_tes: 1\n    policy: deepflow\n    heatmap: {heatmap}\n"
    )
    store = Store(f"sqlite:///{folder / 'headwater.db'}")
    admin_key = store.create_api_key("admin")[1]
    store.engine.dispose()
    env = {"HEADWATER_POOL_SIZE": "1", "HEADWATER_AUTOSCALE_PERIOD_S": "0.2", "HEADWATER_ACTIVATOR_TIMEOUT_S": "120"}
    server = start_server(None, folder, "pd-scale", env, ["--models", str(catalogue)])
    server.admin_key = admin_key  # type: ignore[attr-defined]
    yield server
    server.stop()


def _executors(server) -> dict:
    """`GET /v1/admin/executors` (what `headwater ps` shows)."""
    headers = {"Authorization": f"Bearer {server.admin_key}"}
    response = httpx.get(server.base_url + "/admin/executors", headers=headers, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


def _tes(server, model: str) -> list[dict]:
    return server.health()["models"][model]


def _modes(server, model: str) -> Counter[str]:
    """TEs of each mode that are up or coming up (not draining)."""
    return Counter(te["mode"] for te in _tes(server, model) if te["state"] != "draining")


def _chat(server, model: str, max_tokens: int) -> httpx.Response:
    body = {"model": model, "messages": [{"role": "user", "content": PROMPT}], "max_tokens": max_tokens}
    headers = {"Authorization": f"Bearer {server.api_key}"}
    return httpx.post(
        server.base_url + "/chat/completions", json={**body, "temperature": 0}, headers=headers, timeout=90
    )


def test_load_grows_the_decode_group_and_it_shrinks_back_when_idle(scaling_server):
    assert _modes(scaling_server, "pd-scale") == {"prefill": 1, "decode": 1}
    model = next(m for m in _executors(scaling_server)["models"] if m["name"] == "pd-scale")
    assert (model["serving_mode"], model["prefill_tes"], model["decode_tes"]) == ("disaggregated", [1, 1], [1, 2])
    # a scale-up takes the pre-warmed TE; before it is up a fresh process would be started instead (slower)
    wait_for(lambda: len(_executors(scaling_server)["pool"]) == 1, "a pre-warmed TE in the pool", timeout=120)
    stop = threading.Event()
    replies: list[httpx.Response] = []

    def load() -> None:
        while not stop.is_set():
            replies.append(_chat(scaling_server, "pd-scale", 96))

    threads = [threading.Thread(target=load) for _ in range(4)]
    for thread in threads:
        thread.start()
    busy: set[str] = set()  # decode TEs seen with a sequence in flight

    def two_decode_tes_busy() -> bool:
        tes = _tes(scaling_server, "pd-scale")
        busy.update(te["name"] for te in tes if te["mode"] == "decode" and te["in_flight"] and te["ready"])
        return len(busy) == 2

    try:
        wait_for(two_decode_tes_busy, "a second decode TE taking sequences", timeout=120)
        assert _modes(scaling_server, "pd-scale") == {"prefill": 1, "decode": 2}  # prefill had no reason to grow
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=90)
    assert replies and {reply.status_code for reply in replies} == {200}
    contents = {reply.json()["choices"][0]["message"]["content"] for reply in replies}
    assert len(contents) == 1  # greedy: the same answer from either decode TE
    wait_for(
        lambda: _modes(scaling_server, "pd-scale") == {"prefill": 1, "decode": 1},
        "the decode group to shrink",
        timeout=60,
    )
    wait_for(lambda: len(_tes(scaling_server, "pd-scale")) == 2, "the drained decode TE to leave the group", timeout=60)
    remaining = {te["name"] for te in _tes(scaling_server, "pd-scale") if te["mode"] == "decode"}
    assert len(remaining) == 1 and remaining < busy


def test_a_pair_at_zero_is_brought_up_by_a_request_and_goes_back_to_zero(scaling_server):
    assert _tes(scaling_server, "pd-zero") == [] and scaling_server.health()["status"] == "ok"
    reply = _chat(scaling_server, "pd-zero", 8)
    assert reply.status_code == 200, reply.text
    assert _modes(scaling_server, "pd-zero") == {"prefill": 1, "decode": 1}
    wait_for(lambda: _tes(scaling_server, "pd-zero") == [], "the pair to go back to zero", timeout=60)


def _pd_routes(server) -> dict[str, float]:
    """`headwater:pd_requests_total` of pd-mixed, by route."""
    text = httpx.get(server.base_url.removesuffix("/v1") + "/metrics", timeout=5).text
    prefix = 'headwater:pd_requests_total{model="pd-mixed",route="'
    return {
        line.removeprefix(prefix).split('"')[0]: float(line.split()[-1])
        for line in text.splitlines()
        if line.startswith(prefix)
    }


LONG_SYSTEM = " ".join(f"Rule {i}: answer in one short sentence." for i in range(12))  # ~300 tokens: the pair
SHORT_SYSTEM = "Be brief and exact; cite the rule number."  # 36 tokens (one 32-token block): colocated


@pytest.mark.parametrize(
    ("system", "routes"),
    [
        (LONG_SYSTEM, {"prefill_only": 1, "disaggregated": 1}),  # cached on the prefill TE, then through the pair
        (SHORT_SYSTEM, {"colocated": 2}),  # cached on the colocated TE, which takes the request too
    ],
    ids=["on-the-pair", "on-the-colocated-te"],
)
def test_a_context_on_a_mixed_group_is_reused_with_the_same_greedy_output(scaling_server, system, routes):
    headers = {"Authorization": f"Bearer {scaling_server.api_key}"}
    question = [{"role": "user", "content": "Which rule comes first?"}]

    def chat(model: str, messages: list[dict], **extra) -> dict:
        body = {"model": model, "messages": messages, "max_tokens": 12, "temperature": 0, **extra}
        reply = httpx.post(scaling_server.base_url + "/chat/completions", json=body, headers=headers, timeout=120)
        assert reply.status_code == 200, reply.text
        return reply.json()

    without = chat("pd-scale", [{"role": "system", "content": system}, *question])  # same weights, no context
    before = _pd_routes(scaling_server)
    created = httpx.post(
        scaling_server.base_url + "/contexts",
        json={"model": "pd-mixed", "messages": [{"role": "system", "content": system}], "ttl_s": 600},
        headers=headers,
        timeout=120,
    )
    assert created.status_code == 200, created.text
    reply = chat("pd-mixed", question, context_id=created.json()["id"])
    assert reply["usage"]["prompt_tokens_details"]["cached_tokens"] > 0, reply["usage"]
    assert reply["usage"]["prompt_tokens"] == without["usage"]["prompt_tokens"]
    assert reply["choices"][0]["message"]["content"] == without["choices"][0]["message"]["content"]
    after = _pd_routes(scaling_server)
    assert {route: count - before.get(route, 0) for route, count in after.items() if count != before.get(route)} == (
        routes
    )
