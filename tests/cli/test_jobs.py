"""`headwater jobs list|show|cancel|events` against the real server: every kind of job through /v1/jobs, JSON for
scripts, and `events --follow` that waits for the job and exits 1 unless it succeeded."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from headwater.cli import app

runner = CliRunner()


def _invoke(server, *args: str):
    return runner.invoke(app, [*args, "--base-url", server.base_url, "--api-key", server.api_key])


def _ok(server, *args: str) -> str:
    result = _invoke(server, *args)
    assert result.exit_code == 0, result.output
    return result.stdout


def _batch(server, tmp_path, lines: int, max_tokens: int) -> dict:
    records = [
        {
            "custom_id": f"c{i}",
            "method": "POST",
            "url": "/v1/completions",
            "body": {"model": server.model, "prompt": f"Item {i}", "max_tokens": max_tokens, "temperature": 0},
        }
        for i in range(lines)
    ]
    source = tmp_path / f"batch-{lines}.jsonl"
    source.write_text("\n".join(json.dumps(record) for record in records) + "\n")
    return json.loads(_ok(server, "batches", "create", str(source), "--endpoint", "/v1/completions", "--json"))


def test_follow_shows_a_job_to_its_end_then_list_show_and_events_agree(server, tmp_path):
    batch = _batch(server, tmp_path, lines=2, max_tokens=2)
    followed = _invoke(server, "jobs", "events", batch["id"], "--follow", "--json")
    assert followed.exit_code == 0, followed.output
    events = [json.loads(line) for line in followed.stdout.splitlines()]
    ids = [event["id"] for event in events]
    assert ids == sorted(set(ids)) and events[0]["message"] == "batch job created"
    assert events[-1]["message"] == "succeeded"  # every event once, oldest first, up to the end
    job = json.loads(_ok(server, "jobs", "show", batch["id"], "--json"))
    assert (job["kind"], job["state"], job["object"]) == ("batch", "succeeded", "job")
    listed = json.loads(_ok(server, "jobs", "list", "--kind", "batch", "--state", "succeeded", "--json"))["data"]
    assert batch["id"] in [j["id"] for j in listed] and {j["kind"] for j in listed} == {"batch"}
    running = json.loads(_ok(server, "jobs", "list", "--state", "running", "--json"))["data"]
    assert batch["id"] not in [j["id"] for j in running]
    later = _ok(server, "jobs", "events", batch["id"], "--after", str(ids[1]), "--json")
    assert [json.loads(line)["id"] for line in later.splitlines()] == ids[2:]
    assert "succeeded" in _ok(server, "jobs", "list")  # a table (its ids wrap in a narrow terminal)
    assert _ok(server, "jobs", "show", batch["id"]).split()[:3] == [batch["id"], "batch", "succeeded"]


def test_a_cancelled_job_followed_exits_1(server, tmp_path):
    batch = _batch(server, tmp_path, lines=40, max_tokens=32)
    cancelled = json.loads(_ok(server, "jobs", "cancel", batch["id"], "--json"))
    assert cancelled["id"] == batch["id"] and cancelled["cancel_requested_at"] is not None
    followed = _invoke(server, "jobs", "events", batch["id"], "--follow")
    assert followed.exit_code == 1, followed.output
    assert "cancelled" in followed.output
    assert json.loads(_ok(server, "jobs", "show", batch["id"], "--json"))["state"] == "cancelled"


def test_an_unknown_job_is_exit_2_naming_it(server):
    for command in (["show", "job_nope"], ["cancel", "job_nope"], ["events", "job_nope"]):
        result = _invoke(server, "jobs", *command)
        assert result.exit_code == 2 and "job_nope" in result.output, result.output
    result = _invoke(server, "jobs", "list", "--state", "sleeping")
    assert result.exit_code == 2 and "[field: query.state]" in result.output
