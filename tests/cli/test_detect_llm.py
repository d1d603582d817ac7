"""`--detector llm` on a scripted Generator (parsed, refused) and on the built-in tiny-chat in-process."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from headwater.cli import app
from tests.conftest import ScriptedGenerator
from tests.detect.clue_paragraphs import AI, HUMAN

runner = CliRunner()


def _write(path, rows):
    path.write_text("\n".join(json.dumps(row) for row in rows))
    return path


@pytest.fixture
def scripted(monkeypatch):
    made: list[ScriptedGenerator] = []

    def install(replies: list[str]) -> list[ScriptedGenerator]:
        def fake(model, base_url, api_key, data_dir, concurrency=8):
            made.append(ScriptedGenerator(replies))
            return made[-1]

        monkeypatch.setattr("headwater.models.endpoint.generator_for", fake)
        return made

    return install


def test_score_prints_verdicts_and_refusals(tmp_path, scripted):
    made = scripted(["Label: AI\nConfidence: 4\nExplanation: a tapestry of triads", "I'd rather not say."])
    texts = _write(tmp_path / "t.jsonl", [{"id": "a", "text": AI[0]}, {"id": "b", "text": HUMAN[0]}])
    args = ["detect", "score", str(texts), "--detector", "llm", "--model", "fake", "--no-guide", "--json"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    first, second = (json.loads(line) for line in result.stdout.splitlines())
    assert (first["score"], first["label"], first["confidence"]) == (4.0, "ai", 4)
    assert first["explanation"] == "a tapestry of triads" and "refused" not in first
    assert second["score"] is None and second["refused"] == "no_label"
    assert "tapestry" not in made[0].prompts[0][0]["content"]  # --no-guide


def test_evaluate_counts_refusals(tmp_path, scripted):
    made = scripted(["Label: AI\nConfidence: 5", "Label: Human\nConfidence: 4", "", "Label: Human\nConfidence: 2"])
    labelled = _write(
        tmp_path / "l.jsonl",
        [{"text": AI[0], "label": "ai"}, {"text": HUMAN[0], "label": "human"}]
        + [{"text": AI[1], "label": "ai"}, {"text": HUMAN[1], "label": "human"}],
    )
    args = ["detect", "evaluate", str(labelled), "--detector", "llm", "--model", "m", "--rationale-first", "--json"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    overall = json.loads(result.stdout)["overall"]
    assert (overall["n_ai"], overall["n_human"], overall["refused"], overall["auroc"]) == (1, 2, 1, 1.0)
    prompt = made[0].prompts[0][0]["content"]
    assert prompt.index("Explanation:") < prompt.index("Label:")  # --rationale-first


def test_all_refused_ai_texts_give_null_auroc(tmp_path, scripted):
    scripted(["nonsense", "Label: Human\nConfidence: 4"])
    labelled = _write(tmp_path / "l.jsonl", [{"text": AI[0], "label": "ai"}, {"text": HUMAN[0], "label": "human"}])
    result = runner.invoke(app, ["detect", "evaluate", str(labelled), "--detector", "llm", "--model", "m", "--json"])
    assert result.exit_code == 0, result.output
    overall = json.loads(result.stdout)["overall"]  # strict JSON: NaN would not parse as null
    assert overall["auroc"] is None and overall["refused"] == 1 and "NaN" not in result.stdout


def test_model_is_required(tmp_path):
    texts = _write(tmp_path / "t.jsonl", [{"text": AI[0]}])
    result = runner.invoke(app, ["detect", "score", str(texts), "--detector", "llm"])
    assert result.exit_code == 2 and "field: model" in result.output


def test_tiny_chat_in_process_answers_or_is_refused(tmp_path, data_dir):
    texts = _write(tmp_path / "t.jsonl", [{"id": 1, "text": AI[0]}])
    args = ["detect", "score", str(texts), "--detector", "llm", "--model", "tiny-chat", "--data-dir", str(data_dir)]
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    (line,) = [json.loads(row) for row in result.stdout.splitlines()]
    assert line["id"] == 1 and (line["score"] is None) == ("refused" in line)
