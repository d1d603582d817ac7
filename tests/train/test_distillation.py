"""`distill`: one config and one call train, save and summarise; bad settings are refused before any loading."""

from __future__ import annotations

import json

import pytest

from headwater.errors import InvalidRequestError
from headwater.train import DistillConfig, distill
from headwater.train.data import Conversation

CHATS = [Conversation([{"role": "user", "content": f"count from {n}"}], f"{n + 1} {n + 2}") for n in range(6)]


def test_one_call_trains_saves_and_reports_each_step(tmp_path, data_dir, tiny_chat_path):
    steps = []
    config = DistillConfig(
        "tiny-teacher", "tiny-chat", max_steps=3, batch_size=2, max_length=32, data_dir=data_dir, lr=1e-3
    )
    result = distill(config, CHATS, tmp_path / "run", on_step=steps.append)
    assert (result.steps, result.examples, result.method) == (3, 6, "taid")
    assert [s.step for s in steps] == [1, 2, 3] and all(s.total == 3 for s in steps)
    assert steps[-1].loss is not None and 0.4 <= steps[-1].t < 1.0
    assert (tmp_path / "run" / "final" / "config.json").exists()
    assert json.loads((tmp_path / "run" / "distill_summary.json").read_text())["steps"] == 3


@pytest.mark.parametrize(
    ("field", "value"), [("method", "forward_kl"), ("batch_size", 0), ("grad_accum", 0), ("max_length", 0)]
)
def test_bad_settings_name_the_field(field, value):
    with pytest.raises(InvalidRequestError) as error:
        DistillConfig("tiny-teacher", "tiny-chat", **{field: value})
    assert error.value.param == field


def test_no_data_is_an_error(tmp_path):
    with pytest.raises(InvalidRequestError, match="no conversations"):
        distill(DistillConfig("tiny-teacher", "tiny-chat"), [], tmp_path)
