"""`headwater cft` and `headwater sft` from the command line, with a scripted teacher where text must make sense."""

from __future__ import annotations

import json

import pytest
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

    monkeypatch.setattr("headwater.cli.options.generator_for", lambda *args: CountingAnswerer())
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


def _critiques(tmp_path, count=4):
    path = tmp_path / "critiques.jsonl"
    rows = [
        {"question": f"{a}+{a}?", "response": str(a), "critique": f"It is {2 * a}. Conclusion: wrong [END]"}
        for a in range(count)
    ]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def _validation(tmp_path):
    path = tmp_path / "validation.jsonl"
    path.write_text('{"question": "2+2?", "reference": 4}\n{"question": "3+3?", "reference": "6"}\n')
    return path


def test_train_with_accumulation_keeps_the_best_checkpoint_by_a_judge(tmp_path, data_dir, monkeypatch):
    from tests.train.test_selection import ScriptedJudge

    judge = ScriptedJudge([1, 0])
    monkeypatch.setattr(cft_cli, "generator_for", lambda *args: judge)
    args = [
        "cft",
        "train",
        "--data",
        str(_critiques(tmp_path)),
        "--model",
        "tiny-chat",
        "--output",
        str(tmp_path / "o"),
    ]
    args += ["--epochs", "1", "--batch-size", "1", "--grad-accum", "2", "--max-length", "128", "--lr", "1e-3"]
    args += ["--validation-file", str(_validation(tmp_path)), "--eval-steps", "1", "--select-by", "judge"]
    args += ["--judge", "any", "--eval-max-tokens", "4", "--data-dir", str(data_dir), "--json"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    # 4 examples, 1 per micro-batch, 2 micro-batches per step: 2 optimiser steps, each scored
    assert summary["validation_scores"] == [{"step": 1, "score": 0.5}, {"step": 2, "score": 0.0}]
    assert (summary["select_by"], summary["best_step"], summary["best_score"]) == ("judge", 1, 0.5)
    assert summary["model"] == str(tmp_path / "o" / "final")
    assert json.loads((tmp_path / "o" / "cft_summary.json").read_text())["best_step"] == 1


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--select-by", "judge"], "--validation-file"),
        (["--validation-file", "VALIDATION", "--select-by", "judge"], "--judge MODEL"),
        (["--validation-file", "VALIDATION", "--select-by", "bleu"], "exact-match, judge"),
        (["--validation-file", "VALIDATION", "--eval-steps", "0"], "eval_steps must be at least 1"),
        (["--validation-file", "VALIDATION", "--eval-max-tokens", "0"], "max_tokens must be at least 1"),
        (["--grad-accum", "0"], "grad_accum must be at least 1"),
    ],
)
def test_bad_selection_flags_exit_2(tmp_path, data_dir, extra, message):
    extra = [str(_validation(tmp_path)) if value == "VALIDATION" else value for value in extra]
    args = [
        "cft",
        "train",
        "--data",
        str(_critiques(tmp_path)),
        "--model",
        "tiny-chat",
        "--output",
        str(tmp_path / "o"),
    ]
    result = runner.invoke(app, [*args, "--data-dir", str(data_dir), *extra])
    assert result.exit_code == 2 and message in result.output, result.output


def test_build_data_asks_the_teacher_for_3200_tokens_unless_told(tmp_path, monkeypatch):
    from tests.train.test_cft import PhrasedTeacher

    teacher = PhrasedTeacher({"5": ["Conclusion: wrong [END]"] * 2})
    monkeypatch.setattr(cft_cli, "generator_for", lambda *args: teacher)
    source = tmp_path / "in.jsonl"
    source.write_text(json.dumps(ROWS[0]) + "\n")
    for output, extra in (("a.jsonl", []), ("b.jsonl", ["--teacher-max-tokens", "512"])):
        args = ["cft", "build-data", str(source), "--teacher", "any", "--output", str(tmp_path / output), *extra]
        assert runner.invoke(app, args).exit_code == 0
    assert [params.max_tokens for params in teacher.params] == [3200, 512]
    bad = runner.invoke(app, [*args[:-1], "0"])
    assert bad.exit_code == 2 and "max_tokens must be at least 1" in bad.output
