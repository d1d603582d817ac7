"""Service file jobs through the real server: a judge bench over an `evals` file judged by the served model, a file
of texts scored by a stored clue calibration, a portfolio's footprint report made in a worker process; each read
back through `/v1/jobs` and `/v1/files`, and every refusal naming its field."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from headwater.detect import ClueDetector, DetectorConfig, calibrate_detector
from headwater.footprint.document import assess_document, read_document
from tests.conftest import RunningServer
from tests.detect.clue_paragraphs import AI, HUMAN

WAIT_S = 120
CLASSIFY = [
    {"instruction": "Is 2 + 2 = 4?", "response": "Yes.", "criteria": "Is the response correct?", "label": "Yes"},
    {"instruction": "Name a colour.", "response": "Seven.", "criteria": "Is the response a colour?", "label": "No"},
    {"instruction": "Say hi.", "response": "Hi!", "criteria": "Is the response a greeting?", "label": "Yes"},
]


def _call(server: RunningServer, method: str, path: str, **kwargs) -> httpx.Response:
    headers = {"Authorization": f"Bearer {server.api_key}"}
    return httpx.request(method, f"{server.base_url}{path}", headers=headers, timeout=120, **kwargs)


def _upload(server: RunningServer, lines: list[dict], purpose: str = "evals") -> str:
    data = "".join(json.dumps(line) + "\n" for line in lines).encode()
    reply = _call(server, "POST", "/files", files={"file": ("items.jsonl", data)}, data={"purpose": purpose})
    assert reply.status_code == 200, reply.text
    return reply.json()["id"]


def _finished(server: RunningServer, job_id: str) -> dict:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        job = _call(server, "GET", f"/jobs/{job_id}").json()
        if job["state"] in ("succeeded", "failed", "cancelled"):
            return job
        time.sleep(0.3)
    raise AssertionError(f"job {job_id} did not finish in {WAIT_S} s")


def _content(server: RunningServer, file_id: str) -> bytes:
    reply = _call(server, "GET", f"/files/{file_id}/content")
    assert reply.status_code == 200, reply.text
    return reply.content


def test_a_judgement_file_job_writes_the_bench_report(server):
    file_id = _upload(server, CLASSIFY)
    body = {"model": server.model, "kind": "classification", "file_id": file_id, "retries": 0, "max_tokens": 16}
    created = _call(server, "POST", "/judgements", json=body)
    assert created.status_code == 200, created.text
    assert created.json()["kind"] == "judge" and created.json()["model"] == server.model
    job = _finished(server, created.json()["id"])
    assert job["state"] == "succeeded", job["error"]
    report = json.loads(_content(server, job["files"]["report"]))
    # tiny-local is a random model: no verdict parses, so every item fails and counts as wrong
    assert report["model"] == server.model and report["kind"] == "classification" and report["items"] == 3
    assert report["parse_failure_rate"] == 1.0 and report["metrics"]["accuracy"] == 0.0
    assert job["result"]["items"] == 3 and job["progress"] == 1.0
    events = [e["message"] for e in _call(server, "GET", f"/jobs/{job['id']}/events").json()["data"]]
    assert "3 of 3 judge calls done" in events


def test_a_cancelled_judgement_job_stops_without_a_report(server):
    file_id = _upload(server, CLASSIFY * 16)
    body = {"model": server.model, "kind": "classification", "file_id": file_id, "retries": 0, "max_tokens": 64}
    created = _call(server, "POST", "/judgements", json=body).json()
    assert _call(server, "POST", f"/jobs/{created['id']}/cancel").status_code == 200
    job = _finished(server, created["id"])
    # cancelled while queued, or at the end of the chunk it was judging: either way not judged to the end
    assert job["state"] == "cancelled" and "report" not in job["files"] and job["progress"] < 1


@pytest.mark.parametrize(
    ("change", "status", "param"),
    [
        ({"model": "no-such-model"}, 404, "model"),
        ({"kind": "ranking"}, 400, "kind"),
        ({"file_id": "file-" + "0" * 32}, 404, "file_id"),
        ({"instruction": "also an item"}, 400, "instruction"),
    ],
)
def test_judgement_job_refusals_name_the_field(server, change, status, param):
    body = {"model": server.model, "kind": "classification", "file_id": _upload(server, CLASSIFY), **change}
    reply = _call(server, "POST", "/judgements", json=body)
    assert reply.status_code == status, reply.text
    assert reply.json()["error"]["param"] == param
    if param == "model":
        assert server.model in reply.json()["error"]["message"]  # the 404 lists what is served


def test_a_judgement_file_is_checked_line_by_line_at_create(server):
    unlabelled = _upload(server, [CLASSIFY[0], {k: v for k, v in CLASSIFY[1].items() if k != "label"}])
    reply = _call(
        server, "POST", "/judgements", json={"model": server.model, "kind": "classification", "file_id": unlabelled}
    )
    assert reply.status_code == 400 and reply.json()["error"]["param"] == "file_id"
    assert "line 2" in reply.json()["error"]["message"] and "label" in reply.json()["error"]["message"]
    batch_file = _upload(server, CLASSIFY, "user_data")
    wrong_purpose = _call(
        server, "POST", "/judgements", json={"model": server.model, "kind": "classification", "file_id": batch_file}
    )
    assert wrong_purpose.status_code == 400 and "purpose 'evals'" in wrong_purpose.json()["error"]["message"]


@pytest.fixture(scope="module")
def clue_detector(server, tmp_path_factory) -> str:
    """A clue calibration stored for the test tenant; its name."""
    folder = tmp_path_factory.mktemp("clues")
    ClueDetector().fit(HUMAN[:14] + AI[:14], ["human"] * 14 + ["ai"] * 14).save(folder / "model.json")
    calibration = calibrate_detector(DetectorConfig("clues", clue_model=folder / "model.json"), HUMAN[10:20], 0.1)
    calibration.save(folder / "calibration.json")
    body = {
        "name": "essays-clues",
        "calibration": json.loads((folder / "calibration.json").read_text()),
        "clue_model": json.loads((folder / "model.json").read_text()),
    }
    reply = _call(server, "POST", "/detections/calibrations", json=body)
    assert reply.status_code == 200, reply.text
    return "essays-clues"


def test_a_detection_file_job_scores_each_line_as_the_synchronous_call(server, clue_detector):
    texts = [AI[-1], HUMAN[-1], "Too short."]
    file_id = _upload(server, [{"id": f"t{n}", "text": text} for n, text in enumerate(texts)])
    created = _call(server, "POST", "/detections", json={"detector": clue_detector, "file_id": file_id})
    assert created.status_code == 200, created.text
    job = _finished(server, created.json()["id"])
    assert job["state"] == "succeeded", job["error"]
    rows = [json.loads(line) for line in _content(server, job["files"]["output"]).decode().splitlines()]
    assert [row["custom_id"] for row in rows] == ["t0", "t1", "t2"] and [row["line"] for row in rows] == [1, 2, 3]
    for text, row in zip(texts, rows, strict=True):
        single = _call(server, "POST", "/detections", json={"detector": clue_detector, "text": text}).json()
        assert row["decision"] == single["decision"] and row["refused"] == single["refused"]
        assert row["score"] == (None if single["score"] is None else pytest.approx(single["score"], rel=1e-9))
    assert rows[2]["decision"] is None and rows[2]["refused"]
    result = job["result"]
    assert result["texts"] == 3 and result["refused"] == 1 and result["ai"] + result["human"] == 2


def test_detection_job_refusals_name_the_field(server, clue_detector):
    file_id = _upload(server, [{"text": AI[0]}])
    missing = _call(server, "POST", "/detections", json={"detector": "no-such", "file_id": file_id})
    assert missing.status_code == 404 and missing.json()["error"]["param"] == "detector"
    both = _call(server, "POST", "/detections", json={"detector": clue_detector, "file_id": file_id, "text": "x"})
    assert both.status_code == 400 and both.json()["error"]["param"] == "text"
    no_text = _upload(server, [{"text": AI[0]}, {"body": "no text"}])
    bad = _call(server, "POST", "/detections", json={"detector": clue_detector, "file_id": no_text})
    assert bad.status_code == 400 and "line 2" in bad.json()["error"]["message"]


def test_a_footprint_report_job_renders_the_html_in_a_worker(server):
    portfolio = {"use_cases": 40, "genai_share": 0.5}
    created = _call(server, "POST", "/footprint/reports", json={"portfolio": portfolio, "factors": {"pue": 1.2}})
    assert created.status_code == 200, created.text
    job = _finished(server, created.json()["id"])
    assert job["state"] == "succeeded", job["error"]
    page = _content(server, job["files"]["report"]).decode()
    assert page.startswith("<!doctype html>") and "2030 scenarios" in page and "data:image/png;base64," in page
    expected = assess_document(read_document({**portfolio, "factors": {"pue": 1.2}})).summary()
    assert job["result"]["totals"] == pytest.approx(expected["totals"])
    assert set(job["result"]["scenarios"]) == set(expected["scenarios"])
    refused = _call(server, "POST", "/footprint/reports", json={"portfolio": {"genai_share": 2}})
    assert refused.status_code == 400 and refused.json()["error"]["param"] == "genai_share"
