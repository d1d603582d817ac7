"""Preference pairs from a scripted teacher, and a tiny DPO + SFT run whose loss falls."""

from __future__ import annotations

import pytest

from headwater.errors import InvalidRequestError
from headwater.judge import ClassificationTask
from headwater.judge.training import JudgeTrainConfig, LabelledItem, critique_pairs, train_judge
from tests.judge.test_judge import Scripted


def _items(n=6):
    return [
        LabelledItem(ClassificationTask(f"q{i}", f"r{i}", "is it right?"), "Yes" if i % 3 else "No") for i in range(n)
    ]


def alternating(text, call):
    if call % 4 == 0:
        return "no verdict at all"
    verdict = "Yes" if call % 2 else "No"
    return f"**Reasoning:** attempt {call}\n\n**Result:** {verdict}"


def test_pairs_have_a_right_and_a_wrong_critique_and_are_balanced():
    rows = critique_pairs(_items(), Scripted(alternating), samples=4)
    assert rows
    for row in rows:
        assert f"**Result:** {row['gold']}" in row["chosen"][0]["content"]
        assert f"**Result:** {row['gold']}" not in row["rejected"][0]["content"]
    golds = [row["gold"] for row in rows]
    assert golds.count("Yes") == golds.count("No")


def test_a_teacher_that_always_agrees_gives_no_pair():
    assert critique_pairs(_items(), Scripted(lambda t, c: "Result: Yes"), samples=3, balance=False) == []
    with pytest.raises(InvalidRequestError, match="samples"):
        critique_pairs(_items(), Scripted(alternating), samples=1)


def test_tiny_dpo_plus_sft_loss_falls(tmp_path, data_dir):
    rows = critique_pairs(_items(8), Scripted(alternating), samples=4, balance=False)
    config = JudgeTrainConfig(max_steps=10, learning_rate=1e-3, batch_size=4)
    _loss, final, losses = train_judge("tiny-chat", rows, tmp_path, config, data_dir)
    assert losses[-1] < losses[0]
    assert (final / "config.json").exists()
