"""A `distill`, `dpo` or `supervised` train task killed after a checkpoint continues from it when retried: the retry
says where it resumed, trains only the steps left, and ends at the uninterrupted run's step count, TAID's t continuing
as it would have (not restarting at t_start), and its `train_loss` the mean over every step of the run, the steps
before the kill included (not only the resumed ones)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from headwater.platform.jobs.finetune_dpo import train_dpo
from headwater.platform.jobs.finetune_tasks import train_distill, train_supervised
from headwater.platform.jobs.worker_process import TaskContext


class Killed(Exception):
    """Stands for the worker dying right after a checkpoint was recorded."""


class Pipe:
    """The worker's pipe, kept in memory; with `kill_at`, the worker "dies" once the checkpoint of that step is
    recorded (the supervisor has it, as after a real kill)."""

    def __init__(self, kill_at: int | None = None) -> None:
        self.messages: list[tuple] = []
        self.kill_at = kill_at

    def send(self, message: tuple) -> None:
        self.messages.append(message)
        if message[0] == "checkpoint" and message[1] == self.kill_at:
            raise Killed(f"killed after the checkpoint at step {self.kill_at}")

    def events(self) -> list[str]:
        return [m[1] for m in self.messages if m[0] == "event"]

    def steps(self) -> list[dict]:
        return [m[2] for m in self.messages if m[0] == "event" and "train_loss" in m[2]]

    def final_loss(self) -> float:
        """The `train_loss` the task recorded with its final model (its last checkpoint)."""
        return [m[3]["train_loss"] for m in self.messages if m[0] == "checkpoint"][-1]


def _mean_loss(before: Pipe, after: Pipe, killed_at: int) -> float:
    """The mean of the step losses logged before the kill (up to its checkpoint) and after the resume."""
    losses = [s["train_loss"] for s in before.steps() if s["step"] <= killed_at]
    losses += [s["train_loss"] for s in after.steps()]
    return sum(losses) / len(losses)


def _run(task, payload: dict, workdir: Path, kill_at: int) -> tuple[Pipe, TaskContext]:
    """Run `task` once as a first attempt, killed after the checkpoint of step `kill_at`: the context keeps the
    checkpoint it recorded, as the job store does."""
    pipe = Pipe(kill_at)
    context = TaskContext(pipe, workdir, 1)  # type: ignore[arg-type]
    with pytest.raises(Killed):
        task(payload, context)
    return pipe, context


def _retry(task, payload: dict, workdir: Path, last: str | None, attempt: int = 2) -> tuple[dict, Pipe]:
    """Run `task` to the end as attempt `attempt`, resuming from `last` when it is a checkpoint."""
    pipe = Pipe()
    return task(payload, TaskContext(pipe, workdir, attempt, last)), pipe  # type: ignore[arg-type]


def test_a_killed_taid_distillation_resumes_with_its_schedule(tmp_path, data_dir):
    lines = [{"prompt": f"count from {n}", "response": f"{n + 1} {n + 2} {n + 3}"} for n in range(8)]
    training = tmp_path / "train.jsonl"
    training.write_text("\n".join(json.dumps(line) for line in lines))
    payload = {
        "model": "tiny-chat",
        "teacher": "tiny-teacher",
        "loss": "taid",
        "training_file": str(training),
        "data_dir": str(data_dir),
        "hyperparameters": {"n_epochs": 1, "batch_size": 2, "learning_rate_multiplier": 10},
        "max_length": 32,
        "checkpoint_interval_s": 0,  # a checkpoint every step
    }
    uninterrupted, whole = _retry(train_distill, payload, tmp_path / "whole", None, attempt=1)
    first, context = _run(train_distill, payload, tmp_path / "job", kill_at=2)
    assert context.last_checkpoint == str(tmp_path / "job" / "checkpoint-2")
    result, retry = _retry(train_distill, payload, tmp_path / "job", context.last_checkpoint)

    assert "resumed from checkpoint at step 2" in retry.events()
    assert [s["step"] for s in retry.steps()] == [3, 4]  # only the steps left, none trained twice
    assert result["model_path"] == str(tmp_path / "job" / "final")
    assert [m[1] for m in retry.messages if m[0] == "checkpoint"][-1] == 4  # the uninterrupted run's count
    # t continues from the checkpoint's schedule: as the uninterrupted run's, not restarted at t_start (0.4)
    expected = {s["step"]: s["taid_t"] for s in whole.steps()}
    assert [s["taid_t"] for s in retry.steps()] == pytest.approx([expected[3], expected[4]], rel=1e-4)
    assert result["t"] == pytest.approx(uninterrupted["t"], rel=1e-4)
    assert expected[3] > 0.5  # the linear floor after step 2 of 4: a restarted schedule would log 0.4
    assert result["train_loss"] == pytest.approx(_mean_loss(first, retry, 2), rel=1e-6)
    assert result["train_loss"] == pytest.approx(uninterrupted["train_loss"], rel=1e-4) == retry.final_loss()


def test_a_killed_dpo_training_resumes_its_lora_adapter(tmp_path, data_dir):
    pairs = [
        {
            "input": {"messages": [{"role": "user", "content": f"What is {a}+{a}?"}]},
            "preferred_output": [{"role": "assistant", "content": str(2 * a)}],
            "non_preferred_output": [{"role": "assistant", "content": str(2 * a + 1)}],
        }
        for a in range(6)
    ]
    training = tmp_path / "pairs.jsonl"
    training.write_text("\n".join(json.dumps(line) for line in pairs))
    hyper = {"n_epochs": 1, "batch_size": 2, "learning_rate_multiplier": 10, "beta": 0.1, "sft_weight": 1.0}
    payload = {
        "model": "tiny-chat",
        "training_file": str(training),
        "data_dir": str(data_dir),
        "hyperparameters": hyper | {"lora": {"r": 4, "alpha": 8}},
        "checkpoint_interval_s": 0,
    }
    first, context = _run(train_dpo, payload, tmp_path / "job", kill_at=1)
    assert [s["step"] for s in first.steps()] == [1]
    result, retry = _retry(train_dpo, payload, tmp_path / "job", context.last_checkpoint)

    assert "resumed from checkpoint at step 1" in retry.events()
    assert [s["step"] for s in retry.steps()] == [2, 3]
    assert [m[1] for m in retry.messages if m[0] == "checkpoint"] == [2, 3]  # step 2's, then the merged model's
    assert result["examples"] == 6 and not (Path(result["model_path"]) / "adapter_config.json").exists()
    assert result["train_loss"] == pytest.approx(_mean_loss(first, retry, 1), rel=1e-6) == retry.final_loss()


def test_a_killed_supervised_training_reports_the_loss_of_the_whole_run(tmp_path, data_dir):
    lines = [
        {"messages": [{"role": "user", "content": f"What is {a}+{a}?"}, {"role": "assistant", "content": str(2 * a)}]}
        for a in range(8)
    ]
    training = tmp_path / "train.jsonl"
    training.write_text("\n".join(json.dumps(line) for line in lines))
    payload = {
        "model": "tiny-chat",
        "training_file": str(training),
        "data_dir": str(data_dir),
        "hyperparameters": {"n_epochs": 1, "batch_size": 2, "learning_rate_multiplier": 10, "lora": False},
        "max_length": 32,
        "checkpoint_interval_s": 0,
    }
    uninterrupted, _ = _retry(train_supervised, payload, tmp_path / "whole", None, attempt=1)
    first, context = _run(train_supervised, payload, tmp_path / "job", kill_at=2)
    result, retry = _retry(train_supervised, payload, tmp_path / "job", context.last_checkpoint)

    assert [s["step"] for s in retry.steps()] == [3, 4]
    assert result["train_loss"] == pytest.approx(_mean_loss(first, retry, 2), rel=1e-6) == retry.final_loss()
    assert result["train_loss"] == pytest.approx(uninterrupted["train_loss"], rel=1e-4)


def test_a_retry_with_no_checkpoint_restarts_the_distillation(tmp_path, data_dir):
    lines = [{"prompt": f"count from {n}", "response": f"{n + 1} {n + 2}"} for n in range(4)]
    training = tmp_path / "train.jsonl"
    training.write_text("\n".join(json.dumps(line) for line in lines))
    payload = {
        "model": "tiny-chat",
        "teacher": "tiny-teacher",
        "loss": "kl",
        "training_file": str(training),
        "data_dir": str(data_dir),
        "hyperparameters": {"n_epochs": 1, "batch_size": 2, "learning_rate_multiplier": 10},
        "max_length": 32,
    }
    result, retry = _retry(train_distill, payload, tmp_path / "job", None)
    assert "no checkpoint to resume from: restarting the stage from the start" in retry.events()
    assert [s["step"] for s in retry.steps()] == [1, 2] and result["t"] is None
