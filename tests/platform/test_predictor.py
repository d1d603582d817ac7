"""The output-length predictor: buckets, back-off, held-out accuracy, JSON round trip, refusal of a bad file, and
`headwater scheduler train-predictor` over a store of logged requests."""

from __future__ import annotations

import json
import random
import subprocess
import sys

import pytest

from headwater.errors import InvalidRequestError
from headwater.platform.predictor import HEURISTIC_BUCKET, LengthPredictor, LoggedRequest, length_bin, split, train
from headwater.platform.store import JobResult, Store


def _rows(count: int, seed: int = 0) -> list[LoggedRequest]:
    """Short prompts get long answers (bucket 3) on `chat`; long prompts short ones (bucket 0); 10 % noise."""
    rng = random.Random(seed)
    rows = []
    for i in range(count):
        long_prompt = rng.random() < 0.5
        prompt = rng.randint(1500, 2000) if long_prompt else rng.randint(20, 30)
        completion = rng.randint(0, 127) if long_prompt else rng.randint(3 * 128, 4 * 128 - 1)
        if rng.random() < 0.1:
            completion = rng.randint(0, 1000)
        rows.append(LoggedRequest(f"job_{i}", "m", "chat", prompt, completion))
    return rows


def test_buckets_and_length_bins():
    assert LoggedRequest("a", "m", "chat", 10, 127).bucket == 0
    assert LoggedRequest("a", "m", "chat", 10, 128).bucket == 1
    assert [length_bin(n) for n in (0, 1, 2, 3, 4, 5, 1024)] == [0, 0, 1, 2, 2, 3, 10]


def test_an_untrained_predictor_uses_the_documented_heuristic():
    predictor = LengthPredictor()
    assert not predictor.trained and predictor.predict("m", "chat", 500) == HEURISTIC_BUCKET == 1


def test_it_learns_the_buckets_and_beats_the_baselines_on_held_out_requests():
    predictor, report = train(_rows(600))
    assert report["held_out_rows"] > 50 and report["train_rows"] + report["held_out_rows"] == 600
    assert report["held_out_accuracy"] >= 0.8
    assert report["held_out_accuracy"] > report["majority_accuracy"] + 0.2
    assert report["held_out_accuracy"] > report["heuristic_accuracy"] + 0.2
    assert predictor.predict("m", "chat", 25) == 3 and predictor.predict("m", "chat", 1800) == 0
    assert predictor.predict("other-model", "completion", 1800) == 0  # backs off to the length bin


def test_the_split_is_deterministic_and_disjoint():
    rows = _rows(200)
    first, second = split(rows), split(rows)
    assert first == second
    assert not {r.id for r in first[0]} & {r.id for r in first[1]}


def test_it_saves_as_json_and_refuses_a_bad_file(tmp_path):
    predictor, _ = train(_rows(200))
    path = tmp_path / "p.json"
    predictor.save(path)
    assert json.loads(path.read_text())["format"].startswith("headwater-length-predictor")
    assert LengthPredictor.load(path).cells == predictor.cells
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(InvalidRequestError, match="cannot read.*train-predictor"):
        LengthPredictor.load(tmp_path / "bad.json")
    (tmp_path / "other.json").write_text('{"format": "x"}')
    with pytest.raises(InvalidRequestError, match="not a length predictor") as refused:
        LengthPredictor.load(tmp_path / "other.json")
    assert refused.value.param == "predictor"


def test_train_predictor_command_reads_the_logged_requests(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'headwater.db'}")
    for row in _rows(120):
        job = store.start_job("acme", row.kind, row.model)
        store.finish_job(job, JobResult("succeeded", row.prompt_tokens, row.completion_tokens))
    store.engine.dispose()
    command = [sys.executable, "-m", "headwater", "scheduler", "train-predictor", "--data-dir", str(tmp_path), "--json"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["train_rows"] + report["held_out_rows"] == 120 and report["held_out_accuracy"] >= 0.7
    assert LengthPredictor.load(tmp_path / "length_predictor.json").trained
    refused = subprocess.run([*command, "--min-rows", "500"], capture_output=True, text=True, timeout=60)
    assert refused.returncode == 2 and "--min-rows" in refused.stderr
