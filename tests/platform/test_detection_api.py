"""`/v1/detections` through the real server: calibrations made here on tiny models (Binoculars over tiny-chat and
tiny-teacher, a clue detector, an LLM detector over the served model) are uploaded, listed, used and deleted per
tenant, and every refusal names its field."""

from __future__ import annotations

import copy
import json
import pickle
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path

import httpx
import pytest

from headwater.detect import ClueDetector, DetectorConfig, calibrate_detector, load_calibrated
from headwater.detect.calibrate import Calibration
from headwater.platform.store import Store
from tests.conftest import RunningServer, start_server
from tests.detect.clue_paragraphs import AI, HUMAN

TINY = {"observer": "tiny-chat", "performer": "tiny-teacher", "min_tokens": 4, "max_tokens": 64}


@pytest.fixture(scope="module")
def detecting_server(tmp_path_factory, saved_tiny_model) -> Iterator[RunningServer]:
    running = start_server(
        saved_tiny_model, tmp_path_factory.mktemp("detecting"), "tiny-local", {"HEADWATER_POOL_SIZE": "0"}
    )
    yield running
    running.stop()


@pytest.fixture(scope="module")
def other_key(detecting_server) -> str:
    store = Store(f"sqlite:///{detecting_server.data_dir / 'headwater.db'}")
    try:
        return store.create_api_key("another-team")[1]
    finally:
        store.engine.dispose()


@pytest.fixture(scope="module")
def binoculars(tmp_path_factory, data_dir) -> Path:
    """A Binoculars calibration saved as `headwater detect calibrate` saves it."""
    config = DetectorConfig("binoculars", data_dir=data_dir, **TINY)  # type: ignore[arg-type]
    path = tmp_path_factory.mktemp("cal") / "binoculars.json"
    calibrate_detector(config, HUMAN[:10], target_fpr=0.1).save(path)
    return path


@pytest.fixture(scope="module")
def clues(tmp_path_factory) -> tuple[Path, Path]:
    """A clue model and its calibration on held-out human paragraphs."""
    folder = tmp_path_factory.mktemp("clues")
    ClueDetector().fit(HUMAN[:14] + AI[:14], ["human"] * 14 + ["ai"] * 14).save(folder / "model.json")
    calibration = calibrate_detector(DetectorConfig("clues", clue_model=folder / "model.json"), HUMAN[10:20], 0.1)
    calibration.save(folder / "calibration.json")
    return folder / "calibration.json", folder / "model.json"


def _call(server: RunningServer, method: str, path: str, key: str | None = None, **kwargs) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key or server.api_key}"}
    return httpx.request(method, f"{server.base_url}{path}", headers=headers, timeout=120, **kwargs)


def _upload(server: RunningServer, name: str, calibration: dict, key: str | None = None, **extra) -> httpx.Response:
    return _call(
        server, "POST", "/detections/calibrations", key, json={"name": name, "calibration": calibration, **extra}
    )


def _detect(server: RunningServer, detector: str, text: str, key: str | None = None) -> httpx.Response:
    return _call(server, "POST", "/detections", key, json={"detector": detector, "text": text})


def test_a_binoculars_calibration_scores_as_the_cli_would_and_stays_with_its_tenant(
    detecting_server, binoculars, data_dir, other_key
):
    saved = json.loads(binoculars.read_text())
    uploaded = _upload(detecting_server, "essays-bino", saved)
    assert uploaded.status_code == 200, uploaded.text
    assert uploaded.json()["detector"] == "binoculars" and uploaded.json()["threshold"] == -saved["threshold"]

    local = load_calibrated(binoculars, data_dir=data_dir)
    for text in (AI[3], HUMAN[15]):
        reply = _detect(detecting_server, "essays-bino", text)
        assert reply.status_code == 200, reply.text
        result = reply.json()
        [expected] = local.score([text])
        assert result["score"] == pytest.approx(expected["score"], rel=1e-4)
        assert result["decision"] == ("ai" if expected["ai"] else "human") and result["ai"] is expected["ai"]
        assert result["kind"] == "binoculars" and result["target_fpr"] == 0.1 and result["refused"] is None
    short = _detect(detecting_server, "essays-bino", "Hi").json()
    assert short["score"] is None and short["decision"] is None and "tokens" in short["refused"]

    listed = _call(detecting_server, "GET", "/detections/calibrations").json()["data"]
    assert "essays-bino" in [c["name"] for c in listed]
    # another tenant sees none of it: not in its list, a 404 to use or delete, and free to take the same name
    assert _call(detecting_server, "GET", "/detections/calibrations", other_key).json()["data"] == []
    hidden = _detect(detecting_server, "essays-bino", AI[3], other_key)
    assert hidden.status_code == 404 and "your calibrations: none" in hidden.json()["error"]["message"]
    assert _call(detecting_server, "DELETE", "/detections/calibrations/essays-bino", other_key).status_code == 404
    assert _upload(detecting_server, "essays-bino", saved, other_key).status_code == 200
    assert _detect(detecting_server, "essays-bino", AI[3]).status_code == 200


def test_a_clue_detector_explains_its_score_with_exact_quotes(detecting_server, clues):
    calibration_path, model_path = clues
    model = json.loads(model_path.read_text())
    uploaded = _upload(detecting_server, "clues", json.loads(calibration_path.read_text()), clue_model=model)
    assert uploaded.status_code == 200, uploaded.text
    local = load_calibrated(calibration_path)
    text = AI[16]
    result = _detect(detecting_server, "clues", text).json()
    [expected] = local.score([text], explain=True)
    assert result["score"] == pytest.approx(expected["score"]) and result["ai"] is expected["ai"] is True
    assert [c["feature"] for c in result["clues"]] == [c["feature"] for c in expected["clues"]]
    quotes = [quote for clue in result["clues"] for quote in clue["quotes"]]
    assert quotes and all(text[q["start"] : q["end"]] == q["quote"] for q in quotes)


def test_an_llm_detector_asks_a_served_model_and_refuses_what_it_cannot_parse(detecting_server):
    settings = {"guide": False, "rationale_first": False, "base_url": None}
    llm = asdict(Calibration("llm", ["tiny-local"], 1.0, 0.1, 0.1, 10, True, settings, "2026-01-01"))
    assert _upload(detecting_server, "llm-local", llm).status_code == 200
    reply = _detect(detecting_server, "llm-local", AI[2])
    assert reply.status_code == 200, reply.text
    result = reply.json()
    # tiny-local is a random model: its reply carries no label, so the text is refused, never guessed
    assert result["score"] is None and result["decision"] is None and result["refused"]
    assert result["label"] is None and "explanation" in result
    short = _detect(detecting_server, "llm-local", "Only a few words here.").json()
    assert short["decision"] is None and "fewer than the minimum 40" in short["refused"]
    assert _upload(detecting_server, "llm-gone", {**llm, "models": ["not-served"]}).status_code == 200
    missing = _detect(detecting_server, "llm-gone", AI[2])
    assert missing.status_code == 404 and "tiny-local" in missing.json()["error"]["message"]


def test_detection_refusals_name_the_field(detecting_server, binoculars):
    _upload(detecting_server, "refusals", json.loads(binoculars.read_text()))
    unknown = _detect(detecting_server, "no-such-detector", "some text")
    assert unknown.status_code == 404 and unknown.json()["error"]["param"] == "detector"
    assert "refusals" in unknown.json()["error"]["message"]
    huge = _detect(detecting_server, "refusals", "x" * 100_001)
    assert huge.status_code == 413 and huge.json()["error"]["param"] == "text"
    as_file = _call(detecting_server, "POST", "/detections", json={"detector": "refusals", "file_id": "file-1"})
    assert as_file.status_code == 404 and as_file.json()["error"]["param"] == "file_id"  # a job of a missing file
    for body, param in (({"detector": "refusals"}, "text"), ({"detector": "refusals", "text": "  "}, "text")):
        refused = _call(detecting_server, "POST", "/detections", json=body)
        assert refused.status_code == 400 and refused.json()["error"]["param"] == param


def _edit(saved: dict, change: dict) -> dict:
    edited = copy.deepcopy(saved)
    for key, value in change.items():
        if value is None:
            edited.pop(key)
        elif key == "settings":
            edited["settings"].update(value)
        else:
            edited[key] = value
    return edited


@pytest.mark.parametrize(
    ("name", "change", "param"),
    [
        ("../escape", {}, "name"),
        ("ok", {"threshold": None}, "calibration.threshold"),
        ("ok", {"extra": 1}, "calibration.extra"),
        ("ok", {"detector": "gptzero"}, "calibration.detector"),
        ("ok", {"higher_is_ai": True}, "calibration.higher_is_ai"),
        ("ok", {"target_fpr": 0}, "calibration.target_fpr"),
        ("ok", {"threshold": "NaN"}, "calibration.threshold"),
        ("ok", {"n_human": 0}, "calibration.n_human"),
        ("ok", {"models": ["/etc", "tiny-teacher"]}, "calibration.models"),
        ("ok", {"models": ["tiny-chat"]}, "calibration.models"),
        ("ok", {"settings": {"max_tokens": -1}}, "calibration.settings.max_tokens"),
        ("ok", {"settings": {"ppl_model": "judge"}}, "calibration.settings.ppl_model"),
        ("ok", {"settings": {"guide": True}}, "calibration.settings.guide"),
    ],
)
def test_an_upload_is_checked_field_by_field(detecting_server, binoculars, name, change, param):
    reply = _upload(detecting_server, name, _edit(json.loads(binoculars.read_text()), change))
    assert reply.status_code == 400, reply.text
    assert reply.json()["error"]["param"] == param


def test_clue_uploads_and_duplicates_are_refused_when_wrong(detecting_server, binoculars, clues):
    calibration_path, model_path = clues
    saved, model = json.loads(calibration_path.read_text()), json.loads(model_path.read_text())
    without = _upload(detecting_server, "clue-x", saved)
    assert without.status_code == 400 and without.json()["error"]["param"] == "clue_model"
    regex = copy.deepcopy(model)
    regex["lexicon"]["entries"][0]["pattern"] = "(a+)+$"  # a tenant's regex never runs in the gateway
    tampered = _upload(detecting_server, "clue-x", saved, clue_model=regex)
    assert tampered.status_code == 400 and tampered.json()["error"]["param"] == "clue_model.lexicon"
    broken = _upload(detecting_server, "clue-x", saved, clue_model={**model, "coef": model["coef"][:-1]})
    assert broken.status_code == 400 and broken.json()["error"]["param"] == "clue_model"
    stray = _upload(detecting_server, "bino-x", json.loads(binoculars.read_text()), clue_model=model)
    assert stray.status_code == 400 and stray.json()["error"]["param"] == "clue_model"
    assert _upload(detecting_server, "twice", json.loads(binoculars.read_text())).status_code == 200
    again = _upload(detecting_server, "twice", json.loads(binoculars.read_text()))
    assert again.status_code == 409 and again.json()["error"]["param"] == "name"
    pickled = pickle.dumps(Calibration(**json.loads(binoculars.read_text())))  # data, never unpickled
    as_pickle = httpx.post(
        f"{detecting_server.base_url}/detections/calibrations",
        content=pickled,
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {detecting_server.api_key}"},
        timeout=30,
    )
    assert as_pickle.status_code == 400 and as_pickle.json()["error"]["param"] == "body"


def test_a_deleted_calibration_is_gone(detecting_server, binoculars):
    assert _upload(detecting_server, "short-lived", json.loads(binoculars.read_text())).status_code == 200
    assert _detect(detecting_server, "short-lived", AI[1]).status_code == 200
    deleted = _call(detecting_server, "DELETE", "/detections/calibrations/short-lived")
    assert deleted.status_code == 200 and deleted.json()["deleted"] is True
    names = [c["name"] for c in _call(detecting_server, "GET", "/detections/calibrations").json()["data"]]
    assert "short-lived" not in names
    assert _detect(detecting_server, "short-lived", AI[1]).status_code == 404
    assert _call(detecting_server, "DELETE", "/detections/calibrations/short-lived").status_code == 404
