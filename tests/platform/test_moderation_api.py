"""`POST /v1/moderations` through the real server and the official client: a classifier guard named by
HEADWATER_MODERATION_GUARD, an LLM guard over a served model (fail closed), and the refusals."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from headwater.safety.guard import ClassifierGuard, train_classifier
from tests.conftest import RunningServer, start_server
from tests.safety.guard.conftest import marker_texts

openai = pytest.importorskip("openai")


@pytest.fixture(scope="module")
def guarded_server(tmp_path_factory, data_dir, saved_tiny_model) -> Iterator[tuple[RunningServer, Path]]:
    texts, labels = marker_texts(24, seed=3)
    folder = train_classifier(texts, labels, "tiny-chat", data_dir, categories=["marker"]).save(
        tmp_path_factory.mktemp("guard") / "clf"
    )
    running = start_server(
        saved_tiny_model,
        tmp_path_factory.mktemp("guarded"),
        "tiny-local",
        {"HEADWATER_MODERATION_GUARD": str(folder), "HEADWATER_POOL_SIZE": "0", "HEADWATER_MODERATION_MAX_ITEMS": "8"},
    )
    yield running, folder
    running.stop()


def test_the_configured_classifier_guard_answers_in_openai_shape(guarded_server, data_dir):
    server, folder = guarded_server
    client = openai.OpenAI(base_url=server.base_url, api_key=server.api_key, max_retries=0)
    texts, _labels = marker_texts(8, seed=41)
    response = client.moderations.create(input=texts)
    expected = ClassifierGuard.load(folder, data_dir).moderate(texts)
    assert response.model == str(folder) and response.id.startswith("modr-")
    assert [result.flagged for result in response.results] == [verdict.flagged for verdict in expected]
    body = response.results[0].model_dump()
    assert body["score"] == pytest.approx(expected[0].score, abs=1e-5)
    flagged = [result.model_dump() for result in response.results if result.flagged]
    assert flagged and all(result["categories"]["marker"] for result in flagged)
    assert all(result["category_scores"]["marker"] == pytest.approx(result["score"]) for result in flagged)
    single = client.moderations.create(input=texts[1])
    assert len(single.results) == 1 and single.results[0].flagged == expected[1].flagged


def test_a_served_model_named_in_model_is_an_llm_guard_that_fails_closed(guarded_server):
    server, _folder = guarded_server
    reply = httpx.post(
        f"{server.base_url}/moderations",
        json={"input": ["a calm river"], "model": server.model},
        headers={"Authorization": f"Bearer {server.api_key}"},
        timeout=60,
    )
    assert reply.status_code == 200, reply.text
    result = reply.json()["results"][0]
    # tiny-local is a random model: its reply is neither "safe" nor "unsafe", so the item is flagged with the reason
    assert result["flagged"] is True and result["error"]
    assert reply.json()["model"] == server.model


def _post(server: RunningServer, body: dict) -> httpx.Response:
    return httpx.post(
        f"{server.base_url}/moderations", json=body, headers={"Authorization": f"Bearer {server.api_key}"}, timeout=30
    )


def test_refusals_name_the_field(guarded_server, server):
    guarded, _folder = guarded_server
    unknown = _post(guarded, {"input": "x", "model": "no-such-guard"})
    assert unknown.status_code == 404 and "tiny-local" in unknown.json()["error"]["message"]
    too_many = _post(guarded, {"input": ["x"] * 9})
    assert too_many.status_code == 413 and "HEADWATER_MODERATION_MAX_ITEMS" in too_many.json()["error"]["message"]
    huge = _post(guarded, {"input": ["ok", "x" * 100_001]})
    assert huge.status_code == 413 and huge.json()["error"]["param"] == "input[1]"
    empty = _post(guarded, {"input": []})
    assert empty.status_code == 400 and empty.json()["error"]["param"] == "input"
    unconfigured = _post(server, {"input": "x"})
    assert unconfigured.status_code == 400 and "HEADWATER_MODERATION_GUARD" in unconfigured.json()["error"]["message"]
    missing = _post(server, {})
    assert missing.status_code == 400


def test_a_judgement_with_a_served_model_is_the_cli_json_object(server):
    item = {"instruction": "Add 2 and 2.", "response": "4", "rubric": "Is the answer correct?"}
    body = {"model": server.model, "kind": "absolute", "retries": 0, "max_tokens": 24, **item}
    reply = httpx.post(
        f"{server.base_url}/judgements", json=body, headers={"Authorization": f"Bearer {server.api_key}"}, timeout=60
    )
    assert reply.status_code == 200, reply.text
    judgement = reply.json()
    assert {"id", "verdict", "reasoning", "parse_error"} <= judgement.keys()
    # a random tiny model does not answer in the judge's format: the failure is named, the verdict is null
    assert judgement["verdict"] is None and judgement["parse_error"]


@pytest.mark.parametrize(
    ("change", "status", "param"),
    [
        ({"kind": "ranking"}, 400, "kind"),
        ({"model": "no-such-model"}, 404, "model"),
        ({"response": None}, 400, "item.response"),
        ({"template": "/etc/passwd"}, 400, "template"),
        ({"response": "x" * 100_001}, 413, "response"),
    ],
)
def test_judgement_refusals_name_the_field(server, change, status, param):
    body = {"model": server.model, "kind": "absolute", "instruction": "q", "response": "a", "rubric": "r", **change}
    reply = httpx.post(
        f"{server.base_url}/judgements", json=body, headers={"Authorization": f"Bearer {server.api_key}"}, timeout=60
    )
    assert reply.status_code == status, reply.text
    assert reply.json()["error"]["param"] == param


def test_a_fine_tune_over_flagged_examples_fails_closed_before_training(guarded_server, data_dir):
    server, folder = guarded_server
    client = openai.OpenAI(base_url=server.base_url, api_key=server.api_key, max_retries=0, timeout=60)
    texts, _labels = marker_texts(8, seed=11)
    rows = [{"messages": [{"role": "user", "content": "Tell me."}, {"role": "assistant", "content": t}]} for t in texts]
    data = "\n".join(json.dumps(row) for row in rows).encode()
    upload = client.files.create(file=("train.jsonl", data), purpose="fine-tune")
    job = client.fine_tuning.jobs.create(model=server.model, training_file=upload.id)
    deadline = time.monotonic() + 120
    while (job := client.fine_tuning.jobs.retrieve(job.id)).status not in ("succeeded", "failed", "cancelled"):
        assert time.monotonic() < deadline, f"still {job.status}"
        time.sleep(0.3)
    assert job.status == "failed" and "HEADWATER_MODERATION_THRESHOLD" in job.error.message
    [report_id] = job.result_files
    report = json.loads(client.files.content(report_id).text)
    expected = ClassifierGuard.load(folder, data_dir).moderate([row["messages"] for row in rows])
    assert report["total"] == 8 and report["flagged"] == sum(verdict.flagged for verdict in expected) > 0
    flagged_lines = [item["line"] for item in report["items"] if item["verdict"] == "unsafe"]
    assert flagged_lines == [line for line, verdict in enumerate(expected, start=1) if verdict.flagged]
    messages = [event.message for event in client.fine_tuning.jobs.list_events(job.id, limit=50).data]
    assert not any("training loss" in message for message in messages)
