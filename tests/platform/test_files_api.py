"""POST/GET/DELETE /v1/files through the official `openai` client against the real server."""

from __future__ import annotations

import json

import httpx
import pytest

from headwater.platform.store import Store

openai = pytest.importorskip("openai")

LINES = [
    {"custom_id": f"r{i}", "method": "POST", "url": "/v1/chat/completions", "body": {"model": "m", "messages": []}}
    for i in range(3)
]
DATA = ("\n".join(json.dumps(line) for line in LINES) + "\n").encode()


def client_for(server, tenant: str):
    """An openai client with a fresh key of `tenant` on the server's store."""
    store = Store(f"sqlite:///{server.data_dir / 'headwater.db'}")
    try:
        _info, key = store.create_api_key(tenant)
    finally:
        store.engine.dispose()
    return openai.OpenAI(base_url=server.base_url, api_key=key, max_retries=0, timeout=60)


def test_upload_list_retrieve_content_delete(openai_client):
    created = openai_client.files.create(file=("requests.jsonl", DATA), purpose="batch")
    assert (created.object, created.bytes, created.filename, created.purpose) == (
        "file",
        len(DATA),
        "requests.jsonl",
        "batch",
    )
    assert created.id in [f.id for f in openai_client.files.list()]
    assert created.id in [f.id for f in openai_client.files.list(purpose="batch")]
    assert created.id not in [f.id for f in openai_client.files.list(purpose="fine-tune")]
    assert openai_client.files.retrieve(created.id).bytes == len(DATA)
    assert openai_client.files.content(created.id).content == DATA
    deleted = openai_client.files.delete(created.id)
    assert (deleted.id, deleted.deleted) == (created.id, True)
    with pytest.raises(openai.NotFoundError):
        openai_client.files.retrieve(created.id)


def test_a_bad_line_is_refused_naming_line_and_field(openai_client):
    bad = DATA + json.dumps({**LINES[0], "custom_id": 5}).encode() + b"\n"
    with pytest.raises(openai.BadRequestError) as caught:
        openai_client.files.create(file=("bad.jsonl", bad), purpose="batch")
    error = caught.value.body
    assert error["message"].startswith("line 4: custom_id") and error["param"] == "custom_id"
    with pytest.raises(openai.BadRequestError, match="line 2: not UTF-8"):
        openai_client.files.create(file=("latin.jsonl", b'{"a": 1}\n{"b": "caf\xe9"}\n'), purpose="evals")
    assert "bad.jsonl" not in [f.filename for f in openai_client.files.list()]


def test_a_tenant_never_sees_another_tenants_file(openai_client, server):
    mine = openai_client.files.create(file=("mine.jsonl", DATA), purpose="batch")
    other = client_for(server, "other-files")
    assert mine.id not in [f.id for f in other.files.list()]
    for call in (other.files.retrieve, other.files.content, other.files.delete):
        with pytest.raises(openai.NotFoundError):
            call(mine.id)
    assert openai_client.files.content(mine.id).content == DATA


def test_idempotency_key_returns_the_same_file_and_refuses_another_body(openai_client):
    headers = {"Idempotency-Key": "upload-1"}
    first = openai_client.files.create(file=("a.jsonl", DATA), purpose="batch", extra_headers=headers)
    again = openai_client.files.create(file=("a.jsonl", DATA), purpose="batch", extra_headers=headers)
    assert again.id == first.id
    with pytest.raises(openai.ConflictError, match="Idempotency-Key 'upload-1' was already used"):
        openai_client.files.create(file=("a.jsonl", DATA + b"\n{}\n"), purpose="evals", extra_headers=headers)


def test_an_upload_that_is_not_multipart_is_a_400(server):
    response = httpx.post(
        server.base_url + "/files",
        content=b"{}",
        headers={"Authorization": f"Bearer {server.api_key}", "Content-Type": "application/json"},
    )
    assert response.status_code == 400 and "multipart/form-data" in response.json()["error"]["message"]
