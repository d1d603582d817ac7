"""The commands that drive a running platform share one option group, one call-and-fail path and one way to print:
checked here against a fake platform (httpx.request answered in-process), so the text output of `show`, `cancel`,
`delete` and the list tables is pinned without a server."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from headwater.cli import app

runner = CliRunner()
FILE = {"id": "file-1", "filename": "in.jsonl", "purpose": "batch", "bytes": 12, "created_at": 7}
BATCH = {
    "id": "batch_1",
    "status": "completed",
    "request_counts": {"completed": 2, "failed": 1, "total": 3},
    "output_file_id": "file-out",
    "error_file_id": None,
}


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str, dict[str, Any]]]:
    """Every request the CLI makes, answered from a tiny table of routes (anything else: a 404 error body)."""
    seen: list[tuple[str, str, dict[str, Any]]] = []
    routes = {
        ("GET", "/v1/files/file-1"): FILE,
        ("DELETE", "/v1/files/file-1"): {"id": "file-1", "object": "file", "deleted": True},
        ("GET", "/v1/files"): {"object": "list", "data": [FILE]},
        ("POST", "/v1/batches/batch_1/cancel"): BATCH,
        ("GET", "/v1/batches"): {"object": "list", "data": [BATCH]},
        ("POST", "/v1/fine_tuning/jobs"): {"id": "ftjob-1", "status": "queued", "model": "tiny-chat"},
    }

    def request(method: str, url: str, **kwargs: Any) -> httpx.Response:
        path = httpx.URL(url).path
        seen.append((method, path, kwargs))
        body = routes.get((method, path))
        if body is None:
            error = {"error": {"message": f"no {path}", "type": "not_found_error", "param": "id"}}
            return httpx.Response(404, json=error, request=httpx.Request(method, url))
        return httpx.Response(200, json=body, request=httpx.Request(method, url))

    monkeypatch.setattr(httpx, "request", request)
    return seen


def _run(*args: str) -> str:
    result = runner.invoke(app, [*args, "--base-url", "http://platform/v1", "--api-key", "k"])
    assert result.exit_code == 0, result.output
    return result.stdout


def test_one_record_commands_call_their_path_and_print_text_or_json(calls):
    text = _run("files", "show", "file-1")
    assert "filename: in.jsonl" in text and "bytes: 12" in text
    assert json.loads(_run("files", "delete", "file-1", "--json"))["deleted"] is True
    line = _run("batches", "cancel", "batch_1")
    assert "batch_1  completed  2/3 done, 1 failed  output: file-out  errors: —" in line
    assert [(method, path) for method, path, _ in calls] == [
        ("GET", "/v1/files/file-1"),
        ("DELETE", "/v1/files/file-1"),
        ("POST", "/v1/batches/batch_1/cancel"),
    ]
    assert all(kwargs["headers"] == {"Authorization": "Bearer k"} for _, _, kwargs in calls)


def test_lists_print_a_table_or_the_api_list(calls):
    table = _run("batches", "list", "--limit", "5")
    assert "batch_1" in table and "file-out" in table and "output" in table
    assert calls[-1][2]["params"] == {"limit": 5}
    assert json.loads(_run("files", "list", "--json")) == {"object": "list", "data": [FILE]}
    assert "in.jsonl" in _run("files", "list")


def test_a_refused_call_is_one_line_with_its_field_and_exit_2(calls):
    result = runner.invoke(app, ["finetune", "cancel", "ftjob-x", "--base-url", "http://platform/v1"])
    assert result.exit_code == 2
    assert "404: no /v1/fine_tuning/jobs/ftjob-x/cancel [field: id]" in result.output


def test_a_distill_job_sends_the_teacher_and_loss_in_openai_method_shape(calls):
    _run("finetune", "create", "--model", "tiny-chat", "--training-file", "file-1", "--method", "distill",
         "--teacher", "tiny-teacher", "--loss", "taid", "--epochs", "1", "--json")  # fmt: skip
    [(method, path, kwargs)] = calls
    assert (method, path) == ("POST", "/v1/fine_tuning/jobs")
    assert kwargs["json"]["method"] == {
        "type": "distill",
        "distill": {"hyperparameters": {"n_epochs": 1}, "teacher": "tiny-teacher", "loss": "taid"},
    }
