"""`/v1/redteam/runs` through the real server on a tiny random model: a run against a served target (stages,
reports as files, the review queue), an external target whose key never reaches the store, the refusals naming
their field, and a run interrupted by a restart that resumes without running a finished test again."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest

from headwater.platform.store import Store
from tests.conftest import RunningServer, start_server

SMALL = {
    "n": 3,
    "concurrency": 3,
    "max_tokens": 12,
    "target_max_tokens": 8,
    "oracle_retries": 0,
    "attempts": 2,
}
"""A run that takes seconds on a 2-layer random model (its oracle replies never parse: every output is `unknown`)."""


@pytest.fixture(scope="module")
def rt_server(tmp_path_factory, saved_tiny_model):
    running = start_server(
        saved_tiny_model, tmp_path_factory.mktemp("redteam"), "tiny-local", {"HEADWATER_POOL_SIZE": "0"}
    )
    yield running
    running.stop()


def _call(server: RunningServer, method: str, path: str, key: str | None = None, **kwargs) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key or server.api_key}"}
    return httpx.request(method, f"{server.base_url}{path}", headers=headers, timeout=60, **kwargs)


def _finish(server: RunningServer, run_id: str, limit_s: float = 240) -> dict:
    deadline = time.monotonic() + limit_s
    while (run := _call(server, "GET", f"/redteam/runs/{run_id}").json())["status"] not in (
        "succeeded",
        "failed",
        "cancelled",
    ):
        assert time.monotonic() < deadline, f"still {run['status']}"
        time.sleep(0.3)
    return run


def _report(server: RunningServer, run: dict, role: str = "report_json") -> bytes:
    return _call(server, "GET", f"/files/{run['result_files'][role]}/content").content


def test_a_run_against_a_served_target_reports_and_queues_its_flagged_outputs(rt_server):
    created = _call(rt_server, "POST", "/redteam/runs", json={"target": "tiny-local", **SMALL})
    assert created.status_code == 200, created.text
    assert created.json()["object"] == "redteam.run" and created.json()["id"].startswith("rtrun_")
    run = _finish(rt_server, created.json()["id"])
    assert run["status"] == "succeeded", run["error"]
    assert [(s["name"], s["status"]) for s in run["stages"]] == [
        ("plan", "succeeded"),
        ("generate", "succeeded"),
        ("run", "succeeded"),
        ("report", "succeeded"),
    ]
    assert run["stages"][0]["result"]["tests"] == 3 and run["progress"] == 1.0
    report = json.loads(_report(rt_server, run))
    ran = run["stages"][2]["result"]
    assert report["total"] == ran["ran"] == sum(ran["by_outcome"].values()) > 0
    assert run["result"]["report"]["total"] == report["total"]
    assert b"<html" in _report(rt_server, run, "report_html").lower()
    events = _call(rt_server, "GET", f"/redteam/runs/{run['id']}/events").json()["data"]
    assert any(e["message"].startswith("planned 3 tests") for e in events)
    assert any(e["message"] == "task report succeeded" for e in events)

    listed = _call(rt_server, "GET", "/redteam/runs").json()["data"]
    assert run["id"] in [r["id"] for r in listed]
    other = Store(f"sqlite:///{rt_server.data_dir / 'headwater.db'}").create_api_key("someone-else")[1]
    assert _call(rt_server, "GET", f"/redteam/runs/{run['id']}", key=other).status_code == 404
    assert _call(rt_server, "GET", "/redteam/runs", key=other).json()["data"] == []

    queue = _call(rt_server, "GET", f"/redteam/runs/{run['id']}/review").json()
    flagged = [r for r in report["by_outcome"] if r in ("unsafe", "unknown")]
    assert queue["counts"]["pending"] == sum(report["by_outcome"][o] for o in flagged) == len(queue["data"])
    first = queue["data"][0]
    assert first["status"] == "pending" and first["prompt"] and first["outcome"] in ("unsafe", "unknown")
    labelled = _call(
        rt_server, "POST", f"/redteam/runs/{run['id']}/review", json={"id": first["id"], "label": "unsafe"}
    )
    assert labelled.status_code == 200, labelled.text
    assert labelled.json()["counts"]["labelled"] == 1
    rebuilt = _call(rt_server, "GET", f"/redteam/runs/{run['id']}").json()
    assert json.loads(_report(rt_server, rebuilt))["confirmed_unsafe"]["confirmed"] == 1
    assert rebuilt["result"]["report"]["review"]["labelled"] == 1
    everything = _call(rt_server, "GET", f"/redteam/runs/{run['id']}/review", params={"status": "all"}).json()
    assert {"id": first["id"], "label": "unsafe"}.items() <= next(
        i for i in everything["data"] if i["id"] == first["id"]
    ).items()
    bad = _call(rt_server, "POST", f"/redteam/runs/{run['id']}/review", json={"id": first["id"], "label": "maybe"})
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "label"
    missing = _call(rt_server, "POST", f"/redteam/runs/{run['id']}/review", json={"id": "t404", "label": "safe"})
    assert missing.status_code == 404 and missing.json()["error"]["param"] == "id"


def test_an_external_target_key_is_used_and_never_stored(rt_server):
    body = {
        "target_base_url": rt_server.base_url,
        "target_model": "tiny-local",
        "target_api_key": rt_server.api_key,
        "generator": "tiny-local",
        "oracle": "tiny-local",
        **SMALL,
        "n": 2,
    }
    created = _call(rt_server, "POST", "/redteam/runs", json=body)
    assert created.status_code == 200, created.text
    run = _finish(rt_server, created.json()["id"])
    assert run["status"] == "succeeded", run["error"]
    assert run["target"] == {"base_url": rt_server.base_url, "model": "tiny-local"}
    # the target answered (no `error` outcome): the key reached it, as a Bearer header
    assert run["stages"][2]["result"]["by_outcome"]["error"] == 0 and run["stages"][2]["result"]["ran"] > 0
    key = rt_server.api_key.encode()
    assert key not in json.dumps(run).encode()
    stored = b"".join(path.read_bytes() for path in rt_server.data_dir.glob("headwater.db*"))
    assert run["id"].encode() in stored and key not in stored  # the job rows, params and events hold no key
    for path in (rt_server.data_dir / "redteam" / run["id"]).iterdir():
        assert key not in path.read_bytes()
    assert key not in rt_server.log.read_bytes()


@pytest.mark.parametrize(
    ("body", "status", "param"),
    [
        ({"target": "no-such-model"}, 404, "target"),
        ({"target": "tiny-local", "oracle": "gone"}, 404, "oracle"),
        ({"target": "tiny-local", "target_base_url": "http://x/v1"}, 400, "target"),
        ({}, 400, "target"),
        ({"target": "tiny-local", "target_api_key": "k"}, 400, "target_api_key"),
        ({"target_base_url": "ftp://x", "target_model": "m", "generator": "tiny-local"}, 400, "target_base_url"),
        ({"target_base_url": "http://x/v1", "generator": "tiny-local", "oracle": "tiny-local"}, 400, "target_model"),
        ({"target_base_url": "http://x/v1", "target_model": "m"}, 400, "generator"),
        ({"target": "tiny-local", "n": 2, "per_cell": 1}, 400, "n"),
        ({"target": "tiny-local", "random": ["colours"]}, 400, "random"),
        ({"target": "tiny-local", "prompt_style": "rude"}, 400, "prompt_style"),
        ({"target": "tiny-local", "n": 0}, 400, "n"),
        ({"target": "tiny-local", "surprise": 1}, 400, "surprise"),
    ],
)
def test_refusals_name_the_field_and_record_nothing(rt_server, body, status, param):
    before = _call(rt_server, "GET", "/redteam/runs").json()["data"]
    reply = _call(rt_server, "POST", "/redteam/runs", json=body)
    assert reply.status_code == status, reply.text
    assert reply.json()["error"]["param"] == param
    if status == 404:
        assert "available models: tiny-local" in reply.json()["error"]["message"]
    assert _call(rt_server, "GET", "/redteam/runs").json()["data"] == before


def test_an_unknown_run_is_404_and_a_run_without_results_has_no_queue(rt_server):
    assert _call(rt_server, "GET", "/redteam/runs/rtrun_nope").status_code == 404
    created = _call(rt_server, "POST", "/redteam/runs", json={"target": "tiny-local", **SMALL}).json()
    cancelled = _call(rt_server, "POST", f"/redteam/runs/{created['id']}/cancel").json()
    assert cancelled["status"] in ("cancelled", "running")
    run = _finish(rt_server, created["id"])
    if run["status"] == "cancelled" and run["stages"][2]["status"] != "succeeded":
        queue = _call(rt_server, "GET", f"/redteam/runs/{run['id']}/review")
        assert queue.status_code == 409 and queue.json()["error"]["param"] == "id"


def _lines(path: Path) -> list[str]:
    return [line for line in path.read_text().splitlines() if line.strip()] if path.exists() else []


def test_a_run_interrupted_by_a_restart_resumes_without_running_a_finished_test_again(tmp_path, saved_tiny_model):
    env = {"HEADWATER_POOL_SIZE": "0"}
    body = {"target": "tiny-local", **SMALL, "n": 5, "concurrency": 1, "target_max_tokens": 32}
    server = start_server(saved_tiny_model, tmp_path, "tiny-local", env)
    try:
        run = _call(server, "POST", "/redteam/runs", json=body).json()
        external = {**body, "n": 8, "target": None, "target_model": "tiny-local", "target_api_key": server.api_key}
        external |= {"target_base_url": server.base_url, "generator": "tiny-local", "oracle": "tiny-local"}
        waiting = _call(server, "POST", "/redteam/runs", json=external).json()
        results = tmp_path / "redteam" / run["id"] / "results.jsonl"
        deadline = time.monotonic() + 240
        while not _lines(results):
            assert time.monotonic() < deadline, "the run stage never wrote a result"
            time.sleep(0.05)
        assert _call(server, "GET", f"/redteam/runs/{waiting['id']}").json()["status"] == "running"
    finally:
        server.stop()
    before = _lines(results)
    server = start_server(saved_tiny_model, tmp_path, "tiny-local", env)
    try:
        run = _finish(server, run["id"])
        assert run["status"] == "succeeded", run["error"]
        messages = [e["message"] for e in _call(server, "GET", f"/redteam/runs/{run['id']}/events").json()["data"]]
        # the external target's key died with the platform: that run waits for it, queued, and says so
        assert _call(server, "GET", f"/redteam/runs/{waiting['id']}").json()["status"] == "queued"
        events = _call(server, "GET", f"/redteam/runs/{waiting['id']}/events").json()["data"]
        assert any("waiting for the external target's key" in e["message"] for e in events)
        keyless = _call(server, "POST", f"/redteam/runs/{waiting['id']}/resume", json={})
        assert keyless.status_code == 400 and keyless.json()["error"]["param"] == "target_api_key"
        resumed = _call(server, "POST", f"/redteam/runs/{waiting['id']}/resume", json={"target_api_key": "k2"})
        assert resumed.status_code == 200, resumed.text
        # it runs again (its old target URL is gone with the old server, so it ends failed, naming the target)
        assert _finish(server, waiting["id"])["status"] in ("succeeded", "failed")
        again = _call(server, "POST", f"/redteam/runs/{waiting['id']}/resume", json={"target_api_key": "k2"})
        assert again.status_code == 409
    finally:
        server.stop()
    assert "requeued after a restart of the platform" in messages
    after = _lines(results)
    ids = [json.loads(line)["id"] for line in after]
    assert len(ids) == len(set(ids)) == run["stages"][1]["result"]["written"]
    finished = [line for line in before if json.loads(line)["outcome"] != "error"]
    assert finished and all(line in after for line in finished)  # finished tests were kept, not run again
    stage = run["stages"][2]
    assert stage["attempts"] == 2 and stage["result"]["already_done"] >= len(finished)


def test_the_cli_runs_follows_reviews_and_labels_through_the_api(rt_server, tmp_path):
    from typer.testing import CliRunner

    from headwater.cli import app

    where = ["--base-url", rt_server.base_url, "--api-key", rt_server.api_key]
    runner = CliRunner()
    sizes = ["--n", "2", "--target-max-tokens", "8", "--concurrency", "2"]
    report, html = tmp_path / "report.json", tmp_path / "report.html"
    started = runner.invoke(
        app,
        ["redteam", "remote", "run", "--target", "tiny-local", *sizes, "--follow", "--output", str(report)]
        + ["--html", str(html), "--json", *where],
    )
    assert started.exit_code == 0, started.output
    run = json.loads(started.stdout.strip().splitlines()[-1])
    assert run["status"] == "succeeded" and json.loads(report.read_text())["total"] == 2
    assert "<html" in html.read_text().lower()
    listed = runner.invoke(app, ["redteam", "remote", "list", "--json", *where])
    assert run["id"] in [r["id"] for r in json.loads(listed.stdout)["data"]]
    queue = runner.invoke(app, ["redteam", "remote", "review", run["id"], "--json", *where])
    item = json.loads(queue.stdout)["data"][0]
    labelled = runner.invoke(app, ["redteam", "remote", "label", run["id"], item["id"], "safe", "--json", *where])
    assert labelled.exit_code == 0 and json.loads(labelled.stdout)["counts"]["labelled"] == 1
    refused = runner.invoke(app, ["redteam", "remote", "run", "--target", "nope", *where])
    assert refused.exit_code == 2 and "[field: target]" in refused.output and "tiny-local" in refused.output
