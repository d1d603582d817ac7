"""Checkpoint selection: scores by exact match and by a scripted judge, and the best checkpoint kept as the model."""

from __future__ import annotations

import json

import pytest
import torch
from transformers import AutoModelForCausalLM, TrainerCallback

from headwater.errors import InvalidRequestError
from headwater.models.generator import Generation
from headwater.train.cft import cft_row
from headwater.train.selection import (
    SOLVER_SYSTEM,
    SelectionConfig,
    ValidationItem,
    exact_match_score,
    judge_score,
    read_validation,
    solver_prompt,
)
from headwater.train.sft import FineTuneConfig, fine_tune

ITEMS = (ValidationItem("What is 2+2?", "4"), ValidationItem("What is 3*3?", "9"))


class ScriptedJudge:
    """Says `right` for the first `rights[call]` prompts of each call; records what it was shown."""

    name = "scripted-judge"

    def __init__(self, rights: list[int]):
        self.rights, self.prompts = list(rights), []

    def generate(self, prompts, params=None):
        self.prompts.append(prompts)
        rights = self.rights.pop(0)
        return [
            Generation(f"Checked. Conclusion: {'right' if i < rights else 'wrong'} [END]", "stop", 1, 4)
            for i, _ in enumerate(prompts)
        ]


def test_exact_match_reads_the_final_answer():
    answers = ["2+2 makes \\boxed{4}.", "3*3 = 6, so 6"]
    assert exact_match_score(ITEMS, answers) == 0.5
    assert exact_match_score(ITEMS, ["4.0", "The answer is 9"]) == 1.0


def test_judge_score_is_the_share_judged_right_and_the_judge_sees_the_reference():
    judge = ScriptedJudge([1])
    assert judge_score(ITEMS, ["four", "nine"], judge) == 0.5
    [[first, _second]] = judge.prompts
    assert first[-1]["content"].endswith("Solution:\nfour\n\nReference answer:\n4")


def test_unparseable_judge_verdicts_count_as_not_right():
    class Echo:
        name = "echo"

        def generate(self, prompts, params=None):
            return [Generation("Conclusion: right/wrong [END]", "stop", 1, 4) for _ in prompts]

    assert judge_score(ITEMS, ["4", "9"], Echo()) == 0.0


def test_the_solver_prompt_is_the_official_evaluation_prompt():
    assert solver_prompt("Q?") == [{"role": "system", "content": SOLVER_SYSTEM}, {"role": "user", "content": "Q?"}]
    assert solver_prompt("Q?", None) == [{"role": "user", "content": "Q?"}]


def test_validation_file_errors_name_the_line_and_field(tmp_path):
    path = tmp_path / "v.jsonl"
    path.write_text('{"question": "q", "reference": 4}\n{"question": "q2", "reference": "x"}\n')
    assert read_validation(path) == (ValidationItem("q", "4"), ValidationItem("q2", "x"))
    path.write_text('{"question": "q", "reference": 4}\n{"question": "q2"}\n')
    with pytest.raises(InvalidRequestError, match="line 2: field 'reference'"):
        read_validation(path)
    path.write_text('{"question": "", "reference": "1"}\n')
    with pytest.raises(InvalidRequestError, match="line 1: field 'question'"):
        read_validation(path)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"select_by": "judge"}, "needs a judge"),
        ({"select_by": "bleu"}, "select_by must be one of"),
        ({"eval_steps": 0}, "eval_steps must be at least 1"),
        ({"items": ()}, "validation set is empty"),
    ],
)
def test_bad_selection_settings_are_refused(kwargs, message):
    with pytest.raises(InvalidRequestError, match=message):
        SelectionConfig(**{"items": ITEMS, **kwargs})


class Snapshots(TrainerCallback):
    """A copy of one weight after every optimiser step."""

    def __init__(self):
        self.weights = {}

    def on_step_end(self, args, state, control, model=None, **kwargs):
        self.weights[state.global_step] = model.lm_head.weight.detach().clone()


ROWS = [cft_row(f"What is {a}+{a}?", f"It is {a}.", f"No: {2 * a}. Conclusion: wrong [END]") for a in range(8)]


@pytest.mark.parametrize(("rights", "best_step"), [([1, 2, 1], 4), ([1, 1, 1], 2), ([0, 1, 2], 6)])
def test_the_best_checkpoint_is_the_model_kept(tmp_path, data_dir, rights, best_step):
    """Scored at steps 2, 4, 6 (every 2 and the last); the kept model is the one of the best step (the earlier on a
    tie, as the official selection), not the last one."""
    (tmp_path / "best").mkdir()
    (tmp_path / "best" / "stale.txt").write_text("a previous run's")
    judge, snapshots = ScriptedJudge(rights), Snapshots()
    selection = SelectionConfig(ITEMS, eval_steps=2, select_by="judge", judge=judge, max_tokens=4)
    config = FineTuneConfig(max_steps=6, learning_rate=5e-3, batch_size=2, max_length=128)
    result = fine_tune("tiny-chat", ROWS, tmp_path, config, data_dir, [snapshots], selection)
    assert result.selection.scores == [(2, rights[0] / 2), (4, rights[1] / 2), (6, rights[2] / 2)]
    assert (result.selection.best_step, result.selection.best_score) == (best_step, max(rights) / 2)
    assert result.model == tmp_path / "final" and not (tmp_path / "best").exists()
    kept = AutoModelForCausalLM.from_pretrained(result.model).lm_head.weight
    assert torch.equal(kept, snapshots.weights[best_step])
    assert best_step == 6 or not torch.equal(kept, snapshots.weights[6])
    assert not (result.model / "stale.txt").exists()
    shown = [prompt[-1]["content"] for call in judge.prompts for prompt in call]
    assert shown[0].startswith("Question:\nWhat is 2+2?\n\nSolution:\n") and shown[0].endswith("Reference answer:\n4")
    assert json.loads((result.model / "config.json").read_text())["num_hidden_layers"] == 2
