"""`headwater judge`: JSON shapes in input order, unparseable verdicts exit 0, bad input exits 2."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from headwater.cli import app
from headwater.cli import judge as judge_cli
from tests.judge.test_judge import Scripted
from tests.judge.test_templates import ATLA

runner = CliRunner()


def _lines(result):
    return [json.loads(line) for line in result.stdout.strip().splitlines()]


@pytest.fixture
def scripted(monkeypatch):
    def install(answer):
        monkeypatch.setattr("headwater.cli.options.generator_for", lambda *args: Scripted(answer))

    return install


def test_score_file_json_in_input_order(tmp_path, scripted):
    scripted(lambda text, call: "**Reasoning:** fine\n\n**Result:** 4" if "first" in text else "nothing")
    path = tmp_path / "items.jsonl"
    rows = [
        {"id": "a", "instruction": "first", "response": "r", "rubric": "helpful"},
        {
            "id": "b",
            "instruction": "second",
            "response": "r",
            "rubric": {"criteria": "c", "scores": {str(s): f"s{s}" for s in range(1, 6)}},
        },
    ]
    path.write_text("\n".join(json.dumps(row) for row in rows))
    result = runner.invoke(app, ["judge", "score", str(path), "--json", "--retries", "0"])
    assert result.exit_code == 0, result.output
    assert _lines(result) == [
        {"id": "a", "verdict": 4, "reasoning": "fine", "parse_error": None},
        {"id": "b", "verdict": None, "reasoning": "", "parse_error": "no_marker"},
    ]


def test_compare_and_classify_single_items(scripted):
    scripted(lambda text, call: "**Result:** B" if "Response A" in text else "**Result:** Yes")
    compare = runner.invoke(
        app,
        [
            "judge",
            "compare",
            "--instruction",
            "q",
            "--response-a",
            "x",
            "--response-b",
            "y",
            "--order",
            "fixed",
            "--json",
        ],
    )
    assert compare.exit_code == 0 and _lines(compare)[0]["verdict"] == "B"
    classify = runner.invoke(
        app, ["judge", "classify", "--instruction", "q", "--response", "x", "--criteria", "polite?", "--json"]
    )
    assert classify.exit_code == 0 and _lines(classify)[0]["verdict"] == "Yes"


@pytest.mark.parametrize(
    ("command", "line", "message"),
    [
        (
            "score",
            {"instruction": "q", "response": "r", "rubric": {"criteria": "c", "scores": {"1": "x"}}},
            "description for every score",
        ),
        ("compare", {"instruction": "q", "response_a": "same", "response_b": "same"}, "identical"),
        ("classify", {"instruction": "", "response": "r", "criteria": "c"}, "line 1: field 'instruction'"),
    ],
)
def test_bad_input_exits_2(tmp_path, scripted, command, line, message):
    scripted(lambda text, call: "Result: 1")
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps(line))
    result = runner.invoke(app, ["judge", command, str(path)])
    assert result.exit_code == 2 and message in result.output.replace("\n", " ")


def test_a_real_tiny_model_never_crashes(data_dir):
    result = runner.invoke(
        app,
        [
            "judge",
            "score",
            "--instruction",
            "Say hi",
            "--response",
            "hello",
            "--rubric",
            "friendly",
            "--model",
            "tiny-chat",
            "--data-dir",
            str(data_dir),
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    [line] = _lines(result)
    assert set(line) == {"id", "verdict", "reasoning", "parse_error"}


def test_train_builds_pairs_and_trains(tmp_path, data_dir, monkeypatch):
    from tests.judge.test_training import alternating

    monkeypatch.setattr(judge_cli, "generator_for", lambda *args: Scripted(alternating))
    path = tmp_path / "gold.jsonl"
    rows = [
        {"instruction": f"q{i}", "response": f"r{i}", "criteria": "right?", "label": "Yes" if i % 2 else "No"}
        for i in range(6)
    ]
    path.write_text("\n".join(json.dumps(row) for row in rows))
    result = runner.invoke(
        app,
        [
            "judge",
            "train",
            str(path),
            "--teacher",
            "any",
            "--model",
            "tiny-chat",
            "--output",
            str(tmp_path / "out"),
            "--samples",
            "4",
            "--max-steps",
            "2",
            "--data-dir",
            str(data_dir),
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["items"] == 6 and summary["pairs"] > 0
    assert len((tmp_path / "out" / "pairs.jsonl").read_text().splitlines()) == summary["pairs"]
    missing = tmp_path / "nogold.jsonl"
    missing.write_text(json.dumps({"instruction": "q", "response": "r", "criteria": "c"}))
    bad = runner.invoke(
        app,
        [
            "judge",
            "train",
            str(missing),
            "--teacher",
            "any",
            "--model",
            "tiny-chat",
            "--output",
            str(tmp_path / "o2"),
            "--data-dir",
            str(data_dir),
        ],
    )
    assert bad.exit_code == 2 and "gold verdict" in bad.output


def test_template_option(tmp_path, scripted):
    scripted(lambda text, call: "Feedback: fine [RESULT] 5" if text.startswith("###Task") else "nothing")
    result = runner.invoke(
        app,
        [
            "judge",
            "score",
            "--instruction",
            "q",
            "--response",
            "r",
            "--rubric",
            "good",
            "--template",
            "prometheus",
            "--json",
        ],
    )
    assert result.exit_code == 0 and _lines(result)[0]["verdict"] == 5
    bad = runner.invoke(
        app,
        [
            "judge",
            "compare",
            "--instruction",
            "q",
            "--response-a",
            "a",
            "--response-b",
            "b",
            "--template",
            "prometheus",
        ],
    )
    assert bad.exit_code == 2 and "absolute" in bad.output


def test_selene_template_name_is_refused_with_the_new_name(scripted):
    scripted(lambda text, call: "Result: 4")
    args = ["judge", "score", "--instruction", "q", "--response", "r", "--rubric", "good"]
    refused = runner.invoke(app, [*args, "--template", "selene"])
    assert refused.exit_code == 2 and "'headwater'" in refused.output
    assert runner.invoke(app, [*args, "--template", "headwater", "--json"]).exit_code == 0


def test_atla_template_folder_and_label_descriptions(scripted):
    prompts = []
    scripted(lambda text, call: prompts.append(text) or "**Reasoning:** ok\n\n**Result:** yes")
    args = ["judge", "classify", "--instruction", "q", "--response", "r", "--criteria", "polite?"]
    folder = str(ATLA)
    described = runner.invoke(
        app, [*args, "--yes-description", "says please", "--no-description", "rude", "--template", folder, "--json"]
    )
    assert described.exit_code == 0, described.output
    assert _lines(described)[0]["verdict"] == "Yes"
    assert prompts[0].startswith("Decide whether") and prompts[0].endswith("Yes: says please\nNo: rude")
    bare = runner.invoke(app, [*args, "--template", folder])
    assert bare.exit_code == 2 and "--yes-description" in bare.output.replace("\n", " ")


def test_a_selene_model_with_our_template_gets_a_note(scripted):
    scripted(lambda text, call: "Result: 4")
    args = ["judge", "score", "--instruction", "q", "--response", "r", "--rubric", "good", "--json"]
    noted = runner.invoke(app, [*args, "--model", "AtlaAI/Selene-1-Mini-Llama-3.1-8B"])
    assert noted.exit_code == 0 and "prompt-templates" in noted.stderr
    quiet = runner.invoke(app, [*args, "--model", "AtlaAI/Selene-1-Mini-Llama-3.1-8B", "--template", str(ATLA)])
    assert quiet.exit_code == 0 and "note" not in quiet.stderr
