"""OpenAIGenerator against a scripted HTTP transport: routing, retries with backoff, clear failures."""

from __future__ import annotations

import json

import httpx
import pytest

from headwater.models.generator import GenerationParams
from headwater.models.openai_generator import GenerationFailed, GenerationRefused, OpenAIGenerator


def _reply(path: str, text: str) -> dict:
    choice = (
        {"text": text}
        if path.endswith("/completions") and "chat" not in path
        else {"message": {"role": "assistant", "content": text}}
    )
    return {"choices": [{**choice, "finish_reason": "stop"}], "usage": {"prompt_tokens": 3, "completion_tokens": 2}}


class Script:
    """Answers requests from a list of (status, headers) failures, then succeeds echoing the prompt."""

    def __init__(self, failures=()):
        self.failures = list(failures)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.failures:
            status, headers = self.failures.pop(0)
            return httpx.Response(status, headers=headers, json={"error": {"message": f"scripted {status}"}})
        body = json.loads(request.content)
        text = body.get("prompt") or body["messages"][-1]["content"]
        return httpx.Response(200, json=_reply(request.url.path, f"echo:{text}"))


def _generator(script: Script, **kw) -> OpenAIGenerator:
    return OpenAIGenerator("m", "http://test/v1", "key", transport=httpx.MockTransport(script), backoff_s=0.001, **kw)


def test_routes_text_and_chat_prompts_and_keeps_order():
    script = Script()
    results = _generator(script, concurrency=4).generate(
        ["a", [{"role": "user", "content": "b"}], "c"], GenerationParams(max_tokens=5, stop=("x",), seed=1)
    )
    assert [r.text for r in results] == ["echo:a", "echo:b", "echo:c"]
    paths = sorted(request.url.path for request in script.requests)
    assert paths == ["/v1/chat/completions", "/v1/completions", "/v1/completions"]
    body = json.loads(script.requests[0].content)
    assert body["max_tokens"] == 5 and body["stop"] == ["x"] and body["seed"] == 1
    assert script.requests[0].headers["authorization"] == "Bearer key"
    assert results[0].completion_tokens == 2


def test_transient_failures_are_retried_honouring_retry_after():
    script = Script([(503, {}), (429, {"Retry-After": "0"})])
    assert _generator(script).generate(["q"])[0].text == "echo:q"
    assert len(script.requests) == 3


def test_client_errors_fail_at_once_with_the_server_message():
    script = Script([(400, {})])
    with pytest.raises(GenerationRefused, match="scripted 400"):
        _generator(script).generate(["q"])
    assert len(script.requests) == 1


def test_gives_up_after_max_retries():
    script = Script([(500, {})] * 10)
    with pytest.raises(GenerationFailed, match=r"[^/]/completions failed 3 times"):
        _generator(script, max_retries=2).generate(["q"])
    assert len(script.requests) == 3


def test_connection_errors_are_retried():
    calls = []

    def flaky(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        if len(calls) == 1:
            raise httpx.ConnectError("refused")
        return httpx.Response(200, json=_reply(request.url.path, "ok"))

    generator = OpenAIGenerator("m", "http://test/v1", transport=httpx.MockTransport(flaky), backoff_s=0.001)
    assert generator.generate(["q"])[0].text == "ok"
