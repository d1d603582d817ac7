"""`POST /v1/attacks` through the real server: Virus against the platform's guard (the synthetic marker guard,
HEADWATER_MODERATION_GUARD) with a served victim sharing its vocabulary, admin keys only, the harness table as the
result; and the refusals (403, 404 listing the served models, a classifier guard, a bad pairs file)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest
import torch

from headwater.platform.store import Store
from tests.conftest import RunningServer, start_server


@pytest.fixture(scope="module")
def marker_folders(tmp_path_factory) -> tuple[Path, Path]:
    """The synthetic marker guard and its benign-trained victim, saved as a user's own models would be."""
    from headwater.safety.virus import marker_setup

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        torch.manual_seed(0)
        guard, victim, tokenizer = marker_setup(seed=0)
    finally:
        torch.set_num_threads(previous)
    folders = tmp_path_factory.mktemp("guard"), tmp_path_factory.mktemp("victim")
    for folder, model in zip(folders, (guard.model, victim), strict=True):
        model.save_pretrained(folder)
        tokenizer.save_pretrained(folder)
    return folders


@pytest.fixture(scope="module")
def attack_server(tmp_path_factory, marker_folders):
    guard, victim = marker_folders
    data_dir = tmp_path_factory.mktemp("attacks")
    env = {"HEADWATER_POOL_SIZE": "0", "HEADWATER_MODERATION_GUARD": str(guard)}
    running = start_server(victim, data_dir, "victim", env)
    store = Store(f"sqlite:///{data_dir / 'headwater.db'}")
    admin = store.create_api_key("admin")[1]
    store.engine.dispose()
    yield running, admin
    running.stop()


def _call(server: RunningServer, key: str, method: str, path: str, **kwargs) -> httpx.Response:
    return httpx.request(
        method, f"{server.base_url}{path}", headers={"Authorization": f"Bearer {key}"}, timeout=60, **kwargs
    )


def _pairs_file(server: RunningServer, key: str, count: int = 6, drop: str | None = None) -> str:
    from headwater.safety.virus import marker_pairs

    lines = []
    for pair in marker_pairs(count, seed=0):
        record = {
            "instruction": pair.instruction,
            "response": pair.response,
            "harmful": pair.harmful,
            "harmful_instruction": pair.harmful_instruction,
        }
        record.pop(drop or "", None)
        lines.append(json.dumps(record))
    upload = ("pairs.jsonl", "\n".join(lines).encode())
    reply = _call(server, key, "POST", "/files", files={"file": upload}, data={"purpose": "user_data"})
    assert reply.status_code == 200, reply.text
    return reply.json()["id"]


def test_an_admin_attack_runs_virus_against_the_platform_guard_and_returns_the_harness_table(
    attack_server, marker_folders
):
    server, admin = attack_server
    body = {"file_id": _pairs_file(server, admin), "victim": "victim", "prompt": "chat", "fine_tune_steps": 10}
    created = _call(server, admin, "POST", "/attacks", json=body)
    assert created.status_code == 200, created.text
    attack = created.json()
    assert attack["object"] == "attack" and attack["guard"] == str(marker_folders[0])  # the configured guard
    deadline = time.monotonic() + 300
    while (attack := _call(server, admin, "GET", f"/attacks/{attack['id']}").json())["status"] not in (
        "succeeded",
        "failed",
    ):
        assert time.monotonic() < deadline, f"still {attack['status']}"
        time.sleep(0.5)
    assert attack["status"] == "succeeded", attack["error"]
    table = {(row["variant"], row["moderation"]): row for row in attack["table"]}
    assert set(table) == {
        (v, m) for v in ("benign", "harmful", "mixing", "lambda1", "virus") for m in ("none", "guard")
    }
    # the marker guard stops the raw harmful samples; unmoderated, everything leaks
    assert table["harmful", "guard"]["leakage"] == 0.0 and table["harmful", "none"]["leakage"] == 1.0
    assert all(0.0 <= row["leakage"] <= 1.0 and row["seeds"] == 1 for row in table.values())
    saved = _call(server, admin, "GET", f"/files/{attack['result_files']['harness_table']}/content").json()
    assert saved["table"] == attack["table"] and len(saved["rows"]) == len(table)
    listed = _call(server, admin, "GET", "/attacks").json()["data"]
    assert attack["id"] in [job["id"] for job in listed]


def test_a_non_admin_key_is_refused_with_403(attack_server):
    server, _admin = attack_server
    reply = _call(server, server.api_key, "POST", "/attacks", json={"file_id": "file-x", "victim": "victim"})
    assert reply.status_code == 403 and "admin" in reply.json()["error"]["message"]
    assert _call(server, server.api_key, "GET", "/attacks").status_code == 403


@pytest.mark.parametrize(
    ("change", "status", "param"),
    [
        ({"victim": "no-such-model"}, 404, "victim"),
        ({"guard": "no-such-guard"}, 404, "guard"),
        ({"prompt": "shouting"}, 400, "prompt"),
        ({"optimise": "everything"}, 400, "optimise"),
        ({"steps": 0}, 400, "steps"),
        ({"file_id": "file-00000000000000000000000000000000"}, 404, "file_id"),
    ],
)
def test_bad_attack_requests_name_the_field(attack_server, change, status, param):
    server, admin = attack_server
    body = {"file_id": _pairs_file(server, admin), "victim": "victim", **change}
    reply = _call(server, admin, "POST", "/attacks", json=body)
    assert reply.status_code == status, reply.text
    assert reply.json()["error"]["param"] == param
    if param == "victim":
        assert "available models: victim" in reply.json()["error"]["message"]


def test_a_pairs_file_missing_a_field_or_too_short_is_refused(attack_server):
    server, admin = attack_server
    missing = _call(
        server,
        admin,
        "POST",
        "/attacks",
        json={"file_id": _pairs_file(server, admin, drop="harmful"), "victim": "victim"},
    )
    assert missing.status_code == 400 and "`harmful`" in missing.json()["error"]["message"]
    short = _call(
        server, admin, "POST", "/attacks", json={"file_id": _pairs_file(server, admin, 1), "victim": "victim"}
    )
    assert short.status_code == 400 and short.json()["error"]["param"] == "file_id"


def test_the_cli_attack_remote_is_refused_for_a_non_admin_key(attack_server, tmp_path):
    from typer.testing import CliRunner

    from headwater.cli import app

    server, _admin = attack_server
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text('{"instruction": "a", "response": "b", "harmful": "c", "harmful_instruction": "d"}\n' * 2)
    where = ["--base-url", server.base_url, "--api-key", server.api_key]
    refused = CliRunner().invoke(app, ["guard", "attack-remote", str(pairs), "--victim", "victim", *where])
    assert refused.exit_code == 2 and "403" in refused.output and "admin" in refused.output
