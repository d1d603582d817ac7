"""The OpenAI-compatible API, driven by the official `openai` client against the real server on loopback."""

from __future__ import annotations

import concurrent.futures
import json

import httpx
import pytest

from headwater.platform.store import Store
from tests.waiting import wait_for

openai = pytest.importorskip("openai")

MESSAGES = [{"role": "user", "content": "What is the capital of France?"}]


def _jobs(server) -> list:
    store = Store(f"sqlite:///{server.data_dir / 'headwater.db'}")
    try:
        return store.list_jobs(limit=10_000)
    finally:
        store.engine.dispose()


def _settled_job(server, before: set) -> object | None:
    """The first job created since `before` (a set of ids), once it is no longer running; else None."""
    new = [job for job in _jobs(server) if job.id not in before]
    return new[0] if new and new[0].state != "running" else None


def _post(server, path: str, body: bytes | dict, key: str | None = "valid") -> httpx.Response:
    headers = {"Content-Type": "application/json"}
    if key is not None:
        headers["Authorization"] = f"Bearer {server.api_key if key == 'valid' else key}"
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return httpx.post(server.base_url + path, content=content, headers=headers, timeout=30)


def test_models_list_names_the_served_model(openai_client, server):
    models = openai_client.models.list()
    assert [model.id for model in models.data] == [server.model]


def test_chat_completion_reports_usage_and_respects_max_tokens(openai_client, server):
    response = openai_client.chat.completions.create(model=server.model, messages=MESSAGES, max_tokens=7, temperature=0)
    choice = response.choices[0]
    assert choice.message.role == "assistant"
    assert response.usage.completion_tokens <= 7
    assert response.usage.prompt_tokens > 5
    assert response.usage.total_tokens == response.usage.prompt_tokens + response.usage.completion_tokens
    assert choice.finish_reason in {"length", "stop"}
    if choice.finish_reason == "length":
        assert response.usage.completion_tokens == 7


def test_streaming_concatenates_to_the_non_streaming_greedy_answer(openai_client, server):
    whole = openai_client.chat.completions.create(model=server.model, messages=MESSAGES, max_tokens=20, temperature=0)
    stream = openai_client.chat.completions.create(
        model=server.model,
        messages=MESSAGES,
        max_tokens=20,
        temperature=0,
        stream=True,
        stream_options={"include_usage": True},
    )
    pieces, finish, usage = [], None, None
    for chunk in stream:
        if chunk.usage is not None:
            usage = chunk.usage
        for choice in chunk.choices:
            pieces.append(choice.delta.content or "")
            finish = choice.finish_reason or finish
    assert "".join(pieces) == whole.choices[0].message.content
    assert finish == whole.choices[0].finish_reason
    assert usage.completion_tokens == whole.usage.completion_tokens


def test_completions_with_n_and_logprobs(openai_client, server):
    response = openai_client.completions.create(
        model=server.model, prompt="The capital of France is", max_tokens=5, n=3, logprobs=1, temperature=1.0, seed=3
    )
    assert sorted(choice.index for choice in response.choices) == [0, 1, 2]
    for choice in response.choices:
        assert len(choice.logprobs.token_logprobs) == 5
        assert all(value <= 0 for value in choice.logprobs.token_logprobs)
    assert response.usage.completion_tokens == 15
    assert len({choice.text for choice in response.choices}) > 1, "seeded choices must differ from each other"


def test_streaming_completion_with_batched_prompts(openai_client, server):
    stream = openai_client.completions.create(
        model=server.model, prompt=["one", "two"], max_tokens=4, stream=True, temperature=0
    )
    texts = {0: "", 1: ""}
    for chunk in stream:
        for choice in chunk.choices:
            texts[choice.index] += choice.text
    whole = openai_client.completions.create(model=server.model, prompt=["one", "two"], max_tokens=4, temperature=0)
    assert texts == {choice.index: choice.text for choice in whole.choices}


def test_seed_makes_sampling_reproducible(openai_client, server):
    def sample(seed: int) -> str:
        response = openai_client.completions.create(
            model=server.model, prompt="Once upon a time", max_tokens=12, temperature=1.0, seed=seed
        )
        return response.choices[0].text

    assert sample(11) == sample(11)
    assert len({sample(seed) for seed in (1, 2, 3)}) > 1


def test_chat_logprobs_are_per_token(openai_client, server):
    response = openai_client.chat.completions.create(
        model=server.model, messages=MESSAGES, max_tokens=4, temperature=0, logprobs=True
    )
    content = response.choices[0].logprobs.content
    assert len(content) == response.usage.completion_tokens
    assert all(item.logprob <= 0 for item in content)


def test_stop_string_cuts_the_text(openai_client, server):
    full = openai_client.completions.create(model=server.model, prompt="Hello", max_tokens=24, temperature=0)
    text = full.choices[0].text
    stop = text[len(text) // 2 : len(text) // 2 + 2]
    if not stop.strip():
        pytest.skip("greedy text has no usable stop string")
    cut = openai_client.completions.create(
        model=server.model, prompt="Hello", max_tokens=24, temperature=0, stop=[stop]
    )
    assert cut.choices[0].finish_reason == "stop"
    assert cut.choices[0].text == text[: text.find(stop)]


def test_concurrent_requests_all_complete(server):
    clients = [openai.OpenAI(base_url=server.base_url, api_key=server.api_key, max_retries=0) for _ in range(2)]

    def ask(i: int) -> int:
        response = clients[i % 2].chat.completions.create(
            model=server.model, messages=[{"role": "user", "content": f"question {i}"}], max_tokens=16
        )
        return response.usage.completion_tokens

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        counts = list(pool.map(ask, range(8)))
    assert all(1 <= count <= 16 for count in counts)


def test_requests_are_recorded_as_jobs(openai_client, server):
    before = {job.id for job in _jobs(server)}
    openai_client.chat.completions.create(model=server.model, messages=MESSAGES, max_tokens=3, temperature=0)
    new = [job for job in _jobs(server) if job.id not in before]
    assert len(new) == 1
    job = new[0]
    assert (job.kind, job.state, job.tenant, job.model) == ("chat", "succeeded", "tests", server.model)
    assert job.completion_tokens == 3 and job.prompt_tokens > 0
    assert job.e2e_s > 0 and job.ttft_s is not None and job.ttft_s <= job.e2e_s


@pytest.mark.parametrize(
    ("body", "status", "param"),
    [
        ({"model": "nope", "messages": MESSAGES}, 404, "model"),
        (b'{"model": "tiny-local", "messages": [', 400, "body"),
        ({"model": "tiny-local", "messages": []}, 400, "messages"),
        ({"model": "tiny-local", "messages": MESSAGES, "temperature": "hot"}, 400, "temperature"),
        ({"model": "tiny-local", "messages": [{"role": "wizard", "content": "x"}]}, 400, "messages.0.role"),
        ({"model": "tiny-local", "messages": MESSAGES, "max_tokens": 100_000}, 400, "max_tokens"),
        ({"model": "tiny-local", "messages": MESSAGES, "max_tokens": 0}, 400, "max_tokens"),
        ({"model": "tiny-local", "messages": MESSAGES, "n": 1000}, 400, "n"),
        ({"messages": MESSAGES}, 400, "model"),
    ],
)
def test_bad_input_is_a_clear_4xx_and_leaves_no_job(server, body, status, param):
    before = len(_jobs(server))
    response = _post(server, "/chat/completions", body)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["param"] == param and error["message"]
    assert len(_jobs(server)) == before


def test_unknown_model_error_lists_the_available_ones(server):
    response = _post(server, "/chat/completions", {"model": "gpt-9", "messages": MESSAGES})
    assert "tiny-local" in response.json()["error"]["message"]


def test_prompt_token_ids_out_of_vocabulary_are_refused(server):
    response = _post(server, "/completions", {"model": server.model, "prompt": [1, 2, 10**9]})
    assert response.status_code == 400 and response.json()["error"]["param"] == "prompt"


@pytest.mark.parametrize("key", [None, "hw-not-a-real-key"])
def test_missing_or_invalid_key_is_401(server, key):
    response = _post(server, "/chat/completions", {"model": server.model, "messages": MESSAGES}, key=key)
    assert response.status_code == 401
    assert response.json()["error"]["type"] == "authentication_error"


def test_openai_client_raises_its_own_error_types(server):
    client = openai.OpenAI(base_url=server.base_url, api_key="wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        client.models.list()
    good = openai.OpenAI(base_url=server.base_url, api_key=server.api_key, max_retries=0)
    with pytest.raises(openai.NotFoundError):
        good.chat.completions.create(model="missing", messages=MESSAGES)
    with pytest.raises(openai.BadRequestError):
        good.chat.completions.create(model=server.model, messages=MESSAGES, max_tokens=10**6)


def test_oversized_body_is_413(server):
    big = {"model": server.model, "messages": [{"role": "user", "content": "x" * 2_000_000}]}
    before = len(_jobs(server))
    response = _post(server, "/chat/completions", big)
    assert response.status_code == 413
    assert len(_jobs(server)) == before


def test_tenant_queue_bound_gives_429_with_retry_after(server):
    body = {"model": server.model, "messages": MESSAGES, "max_tokens": 300, "stream": True}

    def open_stream(_i: int) -> int:
        with httpx.stream(
            "POST",
            server.base_url + "/chat/completions",
            json=body,
            timeout=60,
            headers={"Authorization": f"Bearer {server.api_key}"},
        ) as response:
            status = response.status_code
            if status == 429:
                assert int(response.headers["retry-after"]) >= 1
            response.read()
            return status

    with concurrent.futures.ThreadPoolExecutor(12) as pool:
        statuses = list(pool.map(open_stream, range(12)))
    assert statuses.count(200) >= 1
    assert statuses.count(429) >= 1
    assert set(statuses) <= {200, 429}


def test_health_and_metrics(openai_client, server):
    openai_client.chat.completions.create(model=server.model, messages=MESSAGES, max_tokens=4)
    health = server.health()
    assert health["status"] == "ok" and health["models"][server.model][0]["ready"]
    text = httpx.get(server.base_url.removesuffix("/v1") + "/metrics").text
    for name in (
        "headwater:time_to_first_token_seconds_bucket",
        "headwater:time_per_output_token_seconds_bucket",
        "headwater:e2e_request_latency_seconds_count",
        "headwater:num_requests_running",
        "headwater:num_requests_waiting",
        "headwater:generation_tokens_total",
    ):
        assert name in text
    count = next(
        line
        for line in text.splitlines()
        if line.startswith(f'headwater:e2e_request_latency_seconds_count{{model="{server.model}"}}')
    )
    assert float(count.split()[-1]) >= 1


def test_client_going_away_aborts_the_generation(server):
    body = {"model": server.model, "messages": MESSAGES, "max_tokens": 900, "stream": True}
    body["logit_bias"] = {"2": -100}  # never the end of turn (id 2): a sampled one ended it before the client left
    before = {job.id for job in _jobs(server)}
    with httpx.stream(
        "POST",
        server.base_url + "/chat/completions",
        json=body,
        timeout=60,
        headers={"Authorization": f"Bearer {server.api_key}"},
    ) as response:
        lines = response.iter_lines()
        for _ in range(6):
            next(lines)
    job = wait_for(
        lambda: server.metric("headwater:num_requests_running") == 0 and _settled_job(server, before),
        "the abandoned request's job to settle and nothing to run",
    )
    assert job.state == "cancelled"
    assert 0 < job.completion_tokens < 900
    assert server.metric("headwater:num_requests_running") == 0


def test_a_non_streaming_client_that_leaves_cancels_its_generation(server):
    body = {"model": server.model, "messages": MESSAGES, "max_tokens": 900, "temperature": 0}
    body["logit_bias"] = {"2": -100}  # never the end of turn (id 2): the generation outlives the client
    before = {job.id for job in _jobs(server)}
    headers = {"Authorization": f"Bearer {server.api_key}"}
    with pytest.raises(httpx.ReadTimeout):  # the client gives up and closes its connection
        httpx.post(server.base_url + "/chat/completions", json=body, headers=headers, timeout=0.5)
    job = wait_for(lambda: _settled_job(server, before), "the abandoned request's job to settle")
    assert job.state == "cancelled"
    assert job.completion_tokens < 900


def test_footprint_is_recorded_per_request_and_aggregated_per_tenant(openai_client, server):
    def get(path: str, key: str) -> httpx.Response:
        return httpx.get(server.base_url + path, headers={"Authorization": f"Bearer {key}"}, timeout=30)

    before = get("/footprint", server.api_key).json()["totals"]
    openai_client.chat.completions.create(model=server.model, messages=MESSAGES, max_tokens=5)
    after = get("/footprint", server.api_key).json()
    assert after["totals"]["requests"] == before["requests"] + 1
    assert after["totals"]["energy_kwh"] > before["energy_kwh"]
    assert after["totals"]["gwp_kgco2e"] > before["gwp_kgco2e"]
    row = after["data"][-1]
    assert row["tenant"] == "tests" and row["model"] == server.model and len(row["day"]) == 10
    store = Store(f"sqlite:///{server.data_dir / 'headwater.db'}")
    _info, other_key = store.create_api_key("someone-else")
    store.engine.dispose()
    assert get("/footprint", other_key).json()["data"] == []
    assert get(f"/footprint?model=nope&since={row['day']}", server.api_key).json()["data"] == []
    bad = get("/footprint?since=yesterday", server.api_key)
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "since"
    metrics = httpx.get(server.base_url.removesuffix("/v1") + "/metrics").text
    assert f'headwater:energy_kwh_total{{model="{server.model}"}}' in metrics
    assert f'headwater:gwp_kgco2e_total{{model="{server.model}"}}' in metrics
