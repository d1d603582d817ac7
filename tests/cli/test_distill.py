"""`headwater distill` end to end on the tiny pair: JSON summary on stdout, a loadable student, clear errors."""

from __future__ import annotations

import json

import pytest
from transformers import AutoModelForCausalLM
from typer.testing import CliRunner

from headwater.cli import app

runner = CliRunner()


def _data(tmp_path, lines=12):
    path = tmp_path / "chats.jsonl"
    rows = [{"prompt": f"count to {i}", "response": " ".join(["one"] * (i % 4 + 1))} for i in range(lines)]
    rows.append({"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]})
    path.write_text("\n".join(json.dumps(row) for row in rows))
    return path


def _run(tmp_path, data_dir, *extra):
    args = [
        "distill",
        "--teacher",
        "tiny-teacher",
        "--student",
        "tiny-chat",
        "--data",
        str(_data(tmp_path)),
        "--output",
        str(tmp_path / "out"),
        "--max-steps",
        "3",
        "--batch-size",
        "4",
        "--data-dir",
        str(data_dir),
        "--json",
        *extra,
    ]
    return runner.invoke(app, args)


def test_taid_run_writes_a_student_and_a_summary(tmp_path, data_dir):
    result = _run(tmp_path, data_dir, "--t-start", "0.2")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["method"] == "taid" and summary["steps"] == 3 and summary["examples"] == 13
    assert 0.2 < summary["t"] <= 1.0
    assert AutoModelForCausalLM.from_pretrained(summary["model"]).config.num_hidden_layers == 2


def test_generated_targets_with_a_baseline(tmp_path, data_dir):
    result = _run(tmp_path, data_dir, "--method", "rkl", "--generate-targets", "--target-tokens", "4")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout.strip().splitlines()[-1])["t"] is None


def test_bad_method_and_bad_data_exit_2(tmp_path, data_dir):
    assert _run(tmp_path, data_dir, "--method", "magic").exit_code == 2
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "x"}\n')
    result = runner.invoke(
        app,
        [
            "distill",
            "--teacher",
            "tiny-teacher",
            "--student",
            "tiny-chat",
            "--data",
            str(bad),
            "--output",
            str(tmp_path / "o"),
            "--data-dir",
            str(data_dir),
        ],
    )
    assert result.exit_code == 2 and "line 1: response" in result.output


def test_epochs_with_accumulation_run_the_trainers_step_count_and_t_spans_it(tmp_path, data_dir):
    """13 examples in micro-batches of 2 are 7 per epoch; accumulating 3 gives 3 optimiser steps per epoch, 6 over
    2 epochs (a count from examples ÷ (batch × accumulation) says 5). The ramp must end with the run."""
    args = ["distill", "--teacher", "tiny-teacher", "--student", "tiny-chat", "--data", str(_data(tmp_path))]
    args += ["--output", str(tmp_path / "out"), "--epochs", "2", "--batch-size", "2", "--grad-accum", "3"]
    result = runner.invoke(app, [*args, "--data-dir", str(data_dir), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["steps"] == 6
    assert summary["t"] == pytest.approx(0.4 + 0.6 * 5 / 6)  # t after the last step (0-based 5) of 6
