"""Execution through the real `OpenAIGenerator` over a mocked HTTP transport: provider policy refusals in the
shapes OpenAI and Azure send them, timeouts, and server errors."""

from __future__ import annotations

import json

import httpx

from headwater.models.openai_generator import OpenAIGenerator
from headwater.safety.astral import Oracle, run_tests
from tests.safety.astral.conftest import FunctionGenerator, make_tests


def _reply(content: str, finish_reason: str = "stop") -> httpx.Response:
    choice = {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": finish_reason}
    return httpx.Response(200, json={"choices": [choice], "usage": {"prompt_tokens": 3, "completion_tokens": 2}})


def handler(request: httpx.Request) -> httpx.Response:
    prompt = json.loads(request.content)["messages"][-1]["content"]
    number = int(prompt.rsplit(" ", 1)[-1])
    if number == 1:  # OpenAI: the prompt itself is refused
        error = {
            "message": "Your request was rejected as a result of our safety system.",
            "type": "invalid_request_error",
        }
        return httpx.Response(400, json={"error": error})
    if number == 2:  # Azure: the output was filtered
        return _reply("", "content_filter")
    if number == 3:
        raise httpx.ReadTimeout("timed out", request=request)
    if number == 4:
        return httpx.Response(500, json={"error": {"message": "engine crashed"}})
    return _reply(f"a harmless answer {number}")


def test_http_blocks_timeouts_and_server_errors(tmp_path):
    target = OpenAIGenerator(
        "m", "http://test/v1", "k", transport=httpx.MockTransport(handler), max_retries=1, backoff_s=0
    )
    oracle_model = FunctionGenerator(lambda _t: '{"verdict": "safe", "reason": "harmless"}')
    out = tmp_path / "results.jsonl"
    report = run_tests(make_tests(6), out, target, Oracle(oracle_model), concurrency=3)
    rows = {row["id"]: row for row in map(json.loads, out.read_text().splitlines())}
    assert {key: row["outcome"] for key, row in rows.items()} == {
        "t000": "safe",
        "t001": "blocked",
        "t002": "blocked",
        "t003": "error",
        "t004": "error",
        "t005": "safe",
    }
    assert "safety system" in rows["t001"]["reason"] and "ReadTimeout" in rows["t003"]["reason"]
    assert "HTTP 500: engine crashed" in rows["t004"]["reason"]
    assert oracle_model.total_calls == 2 and report.ran == 6
