"""The batch API through the official `openai` client: lines run, output and error files, cancel, tenancy, and a
restart of the platform mid-batch that finishes without running a finished line twice."""

from __future__ import annotations

import json
import time

import pytest

from headwater.platform.store import Store
from tests.conftest import start_server
from tests.platform.test_files_api import client_for

openai = pytest.importorskip("openai")


def _line(i: int, model: str, **body: object) -> dict:
    messages = [{"role": "user", "content": f"Count to {i}"}]
    return {
        "custom_id": f"req-{i}",
        "method": "POST",
        "url": "/v1/chat/completions",
        "body": {"model": model, "messages": messages, "max_tokens": 4, "temperature": 0, **body},
    }


def _upload(client, lines: list[dict]) -> str:
    data = ("\n".join(json.dumps(line) for line in lines) + "\n").encode()
    return client.files.create(file=("batch.jsonl", data), purpose="batch").id


def _wait(client, batch_id: str, until: tuple[str, ...] = ("completed", "failed", "cancelled"), timeout: float = 120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        batch = client.batches.retrieve(batch_id)
        if batch.status in until:
            return batch
        time.sleep(0.1)
    raise AssertionError(f"batch {batch_id} still {batch.status} after {timeout} s")


def _jsonl(client, file_id: str) -> list[dict]:
    return [json.loads(line) for line in client.files.content(file_id).text.splitlines()]


def test_a_batch_runs_its_lines_into_output_and_error_files(openai_client, server):
    lines = [_line(i, server.model) for i in range(4)]
    lines += [_line(4, "no-such-model"), _line(5, server.model, max_tokens=-1)]
    batch = openai_client.batches.create(
        input_file_id=_upload(openai_client, lines),
        endpoint="/v1/chat/completions",
        completion_window="24h",
        metadata={"purpose": "test"},
    )
    assert batch.status in {"validating", "in_progress"} and batch.request_counts.total == 6
    done = _wait(openai_client, batch.id)
    assert done.status == "completed" and done.metadata == {"purpose": "test"}
    assert (done.request_counts.completed, done.request_counts.failed) == (4, 2)
    outputs = _jsonl(openai_client, done.output_file_id)
    assert [o["custom_id"] for o in outputs] == ["req-0", "req-1", "req-2", "req-3"]
    direct = openai_client.chat.completions.create(
        model=server.model, **{k: v for k, v in lines[2]["body"].items() if k != "model"}
    )
    assert outputs[2]["response"]["body"]["choices"][0]["message"]["content"] == direct.choices[0].message.content
    errors = {e["custom_id"]: e for e in _jsonl(openai_client, done.error_file_id)}
    assert errors["req-4"]["response"]["status_code"] == 404
    assert errors["req-5"]["response"]["status_code"] == 400
    assert "max_tokens" in errors["req-5"]["response"]["body"]["error"]["message"]
    assert batch.id in [b.id for b in openai_client.batches.list()]


def test_refused_batches_name_the_field_and_write_nothing(openai_client, server):
    before = [b.id for b in openai_client.batches.list(limit=100)]
    with pytest.raises(openai.NotFoundError):
        openai_client.batches.create(
            input_file_id="file-" + "0" * 32, endpoint="/v1/chat/completions", completion_window="24h"
        )
    tuning = openai_client.files.create(file=("t.jsonl", b'{"prompt": "q", "response": "a"}\n'), purpose="fine-tune")
    with pytest.raises(openai.BadRequestError, match="purpose 'batch'"):
        openai_client.batches.create(input_file_id=tuning.id, endpoint="/v1/chat/completions", completion_window="24h")
    chat_file = _upload(openai_client, [_line(0, server.model)])
    with pytest.raises(openai.BadRequestError, match="line 1: url '/v1/chat/completions' differs"):
        openai_client.batches.create(input_file_id=chat_file, endpoint="/v1/completions", completion_window="24h")
    with pytest.raises(openai.BadRequestError, match="completion_window"):
        openai_client.batches.create(input_file_id=chat_file, endpoint="/v1/chat/completions", completion_window="1h")
    assert [b.id for b in openai_client.batches.list(limit=100)] == before


def test_cancel_and_tenancy(openai_client, server):
    lines = [_line(i, server.model, max_tokens=64) for i in range(200)]
    batch = openai_client.batches.create(
        input_file_id=_upload(openai_client, lines), endpoint="/v1/chat/completions", completion_window="24h"
    )
    assert openai_client.batches.cancel(batch.id).status in {"cancelling", "cancelled"}
    other = client_for(server, "other-batches")
    for call in (other.batches.retrieve, other.batches.cancel):
        with pytest.raises(openai.NotFoundError):
            call(batch.id)
    assert batch.id not in [b.id for b in other.batches.list()]
    done = _wait(openai_client, batch.id)
    assert done.status == "cancelled" and done.cancelled_at is not None
    assert done.request_counts.completed < 200


def _succeeded_chat_jobs(data_dir) -> int:
    store = Store(f"sqlite:///{data_dir / 'headwater.db'}")
    try:
        return sum(j.kind == "chat" and j.state == "succeeded" for j in store.list_jobs(limit=10_000))
    finally:
        store.engine.dispose()


def test_a_batch_survives_a_restart_without_redoing_finished_lines(tmp_path, saved_tiny_model):
    env = {"HEADWATER_BATCH_CONCURRENCY": "1", "HEADWATER_POOL_SIZE": "0"}
    server = start_server(saved_tiny_model, tmp_path, "tiny-local", env)
    lines = [_line(i, "tiny-local", max_tokens=48) for i in range(12)]
    try:
        client = openai.OpenAI(base_url=server.base_url, api_key=server.api_key, max_retries=0, timeout=60)
        batch = client.batches.create(
            input_file_id=_upload(client, lines), endpoint="/v1/chat/completions", completion_window="24h"
        )
        while client.batches.retrieve(batch.id).request_counts.completed < 3:
            time.sleep(0.02)
    finally:
        server.stop()
    finished_before = _succeeded_chat_jobs(tmp_path)
    assert 3 <= finished_before < len(lines), "the batch must be stopped part-way for this test to mean anything"
    server = start_server(saved_tiny_model, tmp_path, "tiny-local", env)
    try:
        client = openai.OpenAI(base_url=server.base_url, api_key=server.api_key, max_retries=0, timeout=60)
        done = _wait(client, batch.id)
        assert (done.status, done.request_counts.completed) == ("completed", len(lines))
        assert sorted(o["custom_id"] for o in _jsonl(client, done.output_file_id)) == sorted(
            line["custom_id"] for line in lines
        )
    finally:
        server.stop()
    assert _succeeded_chat_jobs(tmp_path) == len(lines), "a finished line ran again after the restart"
