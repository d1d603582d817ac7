"""`headwater files` and `headwater batches` against the real server, as JSON for scripts."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from headwater.cli import app

runner = CliRunner()


def _run(server, *args: str) -> object:
    result = runner.invoke(app, [*args, "--base-url", server.base_url, "--api-key", server.api_key])
    assert result.exit_code == 0, result.output
    return result


def test_upload_then_batch_then_download(server, tmp_path):
    lines = [
        {
            "custom_id": f"c{i}",
            "method": "POST",
            "url": "/v1/completions",
            "body": {"model": server.model, "prompt": f"Item {i}", "max_tokens": 3, "temperature": 0},
        }
        for i in range(3)
    ]
    source = tmp_path / "in.jsonl"
    source.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    uploaded = json.loads(_run(server, "files", "upload", str(source), "--purpose", "batch", "--json").stdout)
    assert uploaded["bytes"] == source.stat().st_size
    listed = json.loads(_run(server, "files", "list", "--purpose", "batch", "--json").stdout)["data"]
    assert uploaded["id"] in [f["id"] for f in listed]
    batch = _run(server, "batches", "create", uploaded["id"], "--endpoint", "/v1/completions", "--wait", "--json")
    done = json.loads(batch.stdout)
    assert done["status"] == "completed" and done["request_counts"]["completed"] == 3
    assert json.loads(_run(server, "batches", "show", done["id"], "--json").stdout)["id"] == done["id"]
    output = tmp_path / "out.jsonl"
    _run(server, "files", "download", done["output_file_id"], "--output", str(output))
    assert [json.loads(line)["custom_id"] for line in output.read_text().splitlines()] == ["c0", "c1", "c2"]
    assert json.loads(_run(server, "files", "delete", uploaded["id"], "--json").stdout)["deleted"] is True


def test_a_bad_file_is_exit_2_with_the_line(server, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"custom_id": "a", "method": "POST", "url": "/v1/embeddings", "body": {"model": "m"}}\n')
    result = runner.invoke(
        app,
        ["files", "upload", str(bad), "--purpose", "batch", "--base-url", server.base_url, "--api-key", server.api_key],
    )
    assert result.exit_code == 2
    assert "line 1: url must be one of" in result.output and "[field: url]" in result.output


def test_an_unknown_batch_is_exit_2_and_no_server_is_exit_1(server):
    result = runner.invoke(app, ["batches", "show", "batch_nope", "--base-url", server.base_url, "--api-key", "x"])
    assert result.exit_code == 2  # 401: a bad key is bad input
    result = runner.invoke(app, ["batches", "list", "--base-url", "http://127.0.0.1:9/v1"])
    assert result.exit_code == 1 and "cannot reach" in result.output
