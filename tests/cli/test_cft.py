"""`headwater cft` and `headwater sft` from the command line, with a scripted teacher where text must make sense."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from headwater.cli import app
from headwater.cli import cft as cft_cli
from tests.train.test_cft import ROWS, FlakyTeacher

runner = CliRunner()


def test_build_data_then_train_cft_and_sft(tmp_path, data_dir, monkeypatch):
    monkeypatch.setattr(cft_cli, "generator_for", lambda *args: FlakyTeacher(malformed_first=1))
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps(row) + "\n" for row in ROWS) + '{"question": 1}\n')
    out = tmp_path / "critiques.jsonl"
    args = ["cft", "build-data", str(source), "--teacher", "any", "--output", str(out), "--check-reference", "--json"]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    summary = json.loads(first.stdout)
    assert (summary["written"], summary["rejected"]) == (3, 1)
    again = json.loads(runner.invoke(app, args).stdout)
    assert (again["written"], again["already_done"]) == (0, 3)

    common = [
        "--model",
        "tiny-chat",
        "--max-steps",
        "2",
        "--batch-size",
        "2",
        "--max-length",
        "128",
        "--data-dir",
        str(data_dir),
        "--json",
    ]
    trained = runner.invoke(app, ["cft", "train", "--data", str(out), "--output", str(tmp_path / "cft"), *common])
    assert trained.exit_code == 0, trained.output
    assert json.loads(trained.stdout.strip().splitlines()[-1])["examples"] == 3
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text('{"question": "2+2?", "answer": "4"}\n{"question": "3+3?", "answer": "6"}\n')
    sft = runner.invoke(app, ["sft", "train", "--data", str(pairs), "--output", str(tmp_path / "sft"), *common])
    assert sft.exit_code == 0, sft.output


def test_bad_training_data_names_the_line(tmp_path, data_dir):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "q", "answer": "a"}\n{"question": "q"}\n')
    result = runner.invoke(
        app,
        [
            "sft",
            "train",
            "--data",
            str(bad),
            "--model",
            "tiny-chat",
            "--output",
            str(tmp_path / "o"),
            "--data-dir",
            str(data_dir),
        ],
    )
    assert result.exit_code == 2 and "line 2: field 'answer'" in result.output


def test_sample_command(tmp_path, monkeypatch):
    from tests.train.test_cft import CountingAnswerer

    monkeypatch.setattr(cft_cli, "generator_for", lambda *args: CountingAnswerer())
    questions = tmp_path / "q.jsonl"
    questions.write_text('{"question": "1?", "reference": "1"}\n{"question": "2?", "reference": 2}\n')
    out = tmp_path / "candidates.jsonl"
    result = runner.invoke(
        app,
        [
            "cft",
            "sample",
            str(questions),
            "--model",
            "any",
            "--output",
            str(out),
            "--samples",
            "6",
            "--keep",
            "2",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 4 and sum(r["response_correct"] for r in rows) == 2
    assert json.loads(result.stdout) == {"output": str(out), "responses": 4, "correct": 2}
