"""The moderate stage reads every kind of fine-tuning line as the conversation it trains: a chat as it is, and the
prompt/response, critique and preference lines (which are no conversations) as their prompt and taught answer."""

from __future__ import annotations

import json

from headwater.platform.jobs.finetune import _check_training_file, trained_conversation
from tests.safety.guard.conftest import KeywordGuard

CRITIQUE = {"question": "What is 2+2?", "response": "5", "critique": "2+2 is 4. Conclusion: wrong [END]"}
PAIR = {
    "input": {"messages": [{"role": "user", "content": "What is 2+2?"}]},
    "preferred_output": [{"role": "assistant", "content": "4"}],
    "non_preferred_output": [{"role": "assistant", "content": "5"}],
}


def test_each_line_shape_is_read_as_the_conversation_it_trains():
    chat = {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]}
    assert trained_conversation(chat, 1, "supervised") == chat["messages"]
    prompt = trained_conversation({"prompt": "Hi", "response": "Hello"}, 1, "distill")
    assert prompt == [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]
    question, critique = trained_conversation(CRITIQUE, 1, "cft")
    assert "What is 2+2?" in question["content"] and "5" in question["content"]  # the critique prompt shows both
    assert critique == {"role": "assistant", "content": CRITIQUE["critique"]}
    assert trained_conversation(PAIR, 1, "dpo")[-1] == {"role": "assistant", "content": "4"}  # the preferred one


def test_the_guard_flags_the_lines_whose_taught_answer_it_flags():
    lines = [CRITIQUE, {**CRITIQUE, "critique": "zorblax. Conclusion: wrong [END]"}, CRITIQUE]
    report = _check_training_file("\n".join(json.dumps(line) for line in lines).encode(), KeywordGuard(), "cft")
    assert (report.total, report.flagged) == (3, 1)
    assert [item.line for item in report.items if item.verdict == "unsafe"] == [2]
