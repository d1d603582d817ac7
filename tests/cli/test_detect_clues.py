"""`headwater detect train-clues`, then score/calibrate/evaluate with `--detector clues`, and its input errors."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from headwater.cli import app
from headwater.detect import Lexicon
from tests.detect.clue_paragraphs import AI, HUMAN

runner = CliRunner()


def _write(path, rows):
    path.write_text("\n".join(json.dumps(row) for row in rows))
    return path


@pytest.fixture(scope="module")
def clue_model(tmp_path_factory):
    folder = tmp_path_factory.mktemp("clues")
    train = _write(
        folder / "train.jsonl",
        [{"text": t, "label": "human"} for t in HUMAN[:14]] + [{"text": t, "label": "ai"} for t in AI[:14]],
    )
    result = runner.invoke(app, ["detect", "train-clues", str(train), "--output", str(folder / "m.json"), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert (summary["n_ai"], summary["n_human"], summary["lexicon_version"]) == (14, 14, Lexicon.load().version)
    assert summary["train_auroc"] == 1.0 and len(summary["top_weights"]) == 5
    return folder / "m.json"


def test_score_explains_held_out_texts(tmp_path, clue_model):
    texts = _write(tmp_path / "t.jsonl", [{"id": f"ai{i}", "text": t} for i, t in enumerate(AI[14:])])
    args = ["detect", "score", str(texts), "--detector", "clues", "--clue-model", str(clue_model), "--json"]
    result = runner.invoke(app, [*args, "--explain"])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["id"] for line in lines] == [f"ai{i}" for i in range(6)]
    assert all(line["score"] > 0.5 and line["higher_is_ai"] for line in lines)
    for line, text in zip(lines, AI[14:], strict=True):
        quotes = [q for clue in line["clues"] for q in clue["quotes"]]
        assert quotes and all(text[q["start"] : q["end"]] == q["quote"] for q in quotes)
        assert {clue["category"] for clue in line["clues"]} and all(c["side"] in ("ai", "human") for c in line["clues"])


def test_calibrate_then_evaluate(tmp_path, clue_model):
    human = _write(tmp_path / "h.jsonl", [{"text": t} for t in HUMAN])
    saved = tmp_path / "cal.json"
    common = ["--detector", "clues", "--clue-model", str(clue_model), "--json"]
    result = runner.invoke(
        app, ["detect", "calibrate", str(human), "--output", str(saved), "--target-fpr", "0.1", *common]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["achieved_fpr"] <= 0.1 and json.loads(result.stdout)["refused"] == 0
    calibration = json.loads(saved.read_text())
    assert (
        calibration["models"] == [str(clue_model)]
        and calibration["settings"]["lexicon_version"] == Lexicon.load().version
    )
    labelled = _write(
        tmp_path / "l.jsonl",
        [{"text": t, "label": "ai", "source": "template"} for t in AI[14:]]
        + [{"text": t, "label": "human", "source": "web"} for t in HUMAN[14:]],
    )
    report = runner.invoke(app, ["detect", "evaluate", str(labelled), *common])
    assert report.exit_code == 0, report.output
    overall = json.loads(report.stdout)["overall"]
    assert (overall["auroc"], overall["n_ai"], overall["n_human"], overall["refused"]) == (1.0, 6, 6, 0)


def test_errors_exit_2_and_name_the_field(tmp_path, clue_model):
    texts = _write(tmp_path / "t.jsonl", [{"text": AI[0]}])
    missing = runner.invoke(app, ["detect", "score", str(texts), "--detector", "clues"])
    assert missing.exit_code == 2 and "field: clue_model" in missing.output
    unknown = runner.invoke(app, ["detect", "score", str(texts), "--detector", "gptzero"])
    assert unknown.exit_code == 2 and "field: detector" in unknown.output
    short = _write(tmp_path / "s.jsonl", [{"text": AI[0]}, {"text": "Far too short."}])
    refused = runner.invoke(
        app, ["detect", "score", str(short), "--detector", "clues", "--clue-model", str(clue_model), "--json"]
    )
    first, second = (json.loads(line) for line in refused.stdout.splitlines())
    assert refused.exit_code == 0 and first["score"] > 0.5 and second["score"] is None
    assert "minimum 40" in second["refused"]
    bad = _write(tmp_path / "b.jsonl", [{"text": AI[0], "label": "ai"}, {"text": HUMAN[0], "label": "bot"}])
    training = runner.invoke(app, ["detect", "train-clues", str(bad), "--output", str(tmp_path / "m.json")])
    assert training.exit_code == 2 and "field: label" in training.output and not (tmp_path / "m.json").exists()
    not_a_model = runner.invoke(app, ["detect", "score", str(texts), "--detector", "clues", "--clue-model", str(texts)])
    assert not_a_model.exit_code == 2 and "not a saved clue detector" in not_a_model.output


def test_a_saved_calibration_reloads_its_detector(tmp_path, clue_model):
    human = _write(tmp_path / "h.jsonl", [{"text": t} for t in HUMAN])
    saved = tmp_path / "cal.json"
    calibrated = runner.invoke(
        app, ["detect", "calibrate", str(human), "--output", str(saved), "--detector", "clues"]
        + ["--clue-model", str(clue_model), "--target-fpr", "0.1"]
    )  # fmt: skip
    assert calibrated.exit_code == 0, calibrated.output
    texts = _write(tmp_path / "t.jsonl", [{"id": "a", "text": AI[15]}, {"id": "h", "text": HUMAN[15]}])
    explicit = runner.invoke(
        app, ["detect", "score", str(texts), "--detector", "clues", "--clue-model", str(clue_model), "--json"]
    )
    reloaded = runner.invoke(app, ["detect", "score", str(texts), "--calibration", str(saved), "--json"])
    assert reloaded.exit_code == 0, reloaded.output
    lines = [json.loads(line) for line in reloaded.stdout.splitlines()]
    assert [line["score"] for line in lines] == [json.loads(line)["score"] for line in explicit.stdout.splitlines()]
    assert [line["ai"] for line in lines] == [True, False]
    other = runner.invoke(app, ["detect", "score", str(texts), "--calibration", str(saved), "--detector", "binoculars"])
    assert other.exit_code == 2 and "differs from the calibration's clues" in other.output
