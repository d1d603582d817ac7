"""File storage and the upload checks, without a server: JSONL line checks, size limit, tenant folders."""

from __future__ import annotations

import json
import re

import pytest

from headwater.errors import InvalidRequestError, NotFoundError, PayloadTooLargeError
from headwater.platform.files import FileStore, LocalFileStorage
from headwater.platform.jsonl_check import check_jsonl
from headwater.platform.store import Store


def _lines(*records: object) -> bytes:
    return "\n".join(json.dumps(r) for r in records).encode()


BATCH_LINE = {"custom_id": "a", "method": "POST", "url": "/v1/chat/completions", "body": {"model": "m", "messages": []}}


@pytest.fixture
def files(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'h.db'}")
    yield FileStore(store, LocalFileStorage(tmp_path / "files"), max_bytes=2048)
    store.engine.dispose()


@pytest.mark.parametrize(
    ("data", "purpose", "message", "param"),
    [
        (b'{"a": 1}\n{"a": \n', "evals", "line 2: not valid JSON", "line 2"),
        (b'{"a": 1}\n\n[1, 2]\n', "evals", "line 3: expected a JSON object, got list", "line 3"),
        (b'{"a": "\xc3\xa9"}\n{"b": "\xff"}\n', "evals", "line 2: not UTF-8", "line 2"),
        (b"\n\n", "batch", "no JSON lines", "file"),
        (_lines(BATCH_LINE, {**BATCH_LINE, "custom_id": "b", "url": "/v1/embeddings"}), "batch", "line 2: url", "url"),
        (_lines(BATCH_LINE, BATCH_LINE), "batch", "line 2: custom_id 'a' repeats line 1", "custom_id"),
        (_lines({**BATCH_LINE, "body": {"messages": []}}), "batch", "line 1: body.model", "body.model"),
        (
            _lines({"messages": [{"role": "user", "content": "hi"}, {"role": "assistant"}]}),
            "fine-tune",
            "line 1: messages[1].content must be a string",
            "messages[1].content",
        ),
        (_lines({"prompt": "q"}), "fine-tune", "line 1: a prompt example needs a string response", "response"),
        (
            _lines({"input": {}, "preferred_output": []}),
            "fine-tune",
            "needs non_preferred_output",
            "non_preferred_output",
        ),
        (
            _lines({"question": "q", "response": 5, "critique": "c"}),
            "fine-tune",
            "line 1: a critique example needs a string response",
            "response",
        ),
    ],
)
def test_bad_jsonl_names_the_line_and_the_field(data, purpose, message, param):
    with pytest.raises(InvalidRequestError, match=re.escape(message)) as caught:
        check_jsonl(data, purpose)
    assert caught.value.param == param


def test_good_files_pass():
    check_jsonl(
        _lines({"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}), "fine-tune"
    )
    check_jsonl(_lines({"prompt": "q", "completion": "a"}, {"prompt": "q", "response": "a"}), "fine-tune")
    check_jsonl(_lines({"question": "q", "response": "a", "critique": "Conclusion: right [END]"}), "fine-tune")
    check_jsonl(_lines(BATCH_LINE, {**BATCH_LINE, "custom_id": "b"}), "batch")
    check_jsonl(b"\xff not json at all", "user_data")  # only JSONL purposes are checked


def test_refused_uploads_write_nothing(files, tmp_path):
    with pytest.raises(PayloadTooLargeError, match="HEADWATER_MAX_FILE_BYTES"):
        files.create("acme", "big.jsonl", "evals", b'{"a": 1}\n' * 300)
    with pytest.raises(InvalidRequestError, match="purpose 'training'"):
        files.create("acme", "d.jsonl", "training", b'{"a": 1}\n')
    with pytest.raises(InvalidRequestError):
        files.create("acme", "d.jsonl", "evals", b"nope\n")
    assert files.list_files("acme") == []
    assert not (tmp_path / "files").exists() or not any((tmp_path / "files").rglob("file-*"))


def test_files_live_in_their_tenant_folder_and_nowhere_else(files, tmp_path):
    row = files.create("acme", "../../etc/passwd", "evals", b'{"a": 1}\n')
    assert row.filename == "passwd"
    assert (tmp_path / "files" / "acme" / row.id).read_bytes() == b'{"a": 1}\n'
    assert files.content("acme", row.id) == b'{"a": 1}\n'
    with pytest.raises(NotFoundError):
        files.content("other", row.id)
    storage = files.storage
    for bad in ("../acme/" + row.id, "file-../../x", row.id + "/.."):
        with pytest.raises(NotFoundError):
            storage.path("acme", bad)
    odd = storage.path("../evil", "file-" + "0" * 32)
    assert odd.parent.parent == (tmp_path / "files").resolve()
    files.delete("acme", row.id)
    assert not (tmp_path / "files" / "acme" / row.id).exists()
    with pytest.raises(NotFoundError):
        files.get("acme", row.id)
