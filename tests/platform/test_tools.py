"""Tool calls: the Hermes-format parser on whole and streamed replies, the prompt preparation, the call grammar."""

from __future__ import annotations

import json

import pytest

from headwater.engine.grammar import grammar_error
from headwater.platform.tools import ToolCallParser, ToolUse, prepare_messages, template_renders_tools

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


def _parse(text: str, pieces: int = 1) -> tuple[str, list]:
    parser = ToolCallParser({"get_weather"})
    size = max(1, len(text) // pieces)
    content, calls = "", []
    for start in range(0, len(text), size):
        piece, new = parser.feed(text[start : start + size])
        content, calls = content + piece, calls + new
    rest, more = parser.finish()
    return content + rest, calls + more


@pytest.mark.parametrize("pieces", [1, 3, 50])
def test_a_call_is_split_from_the_text_however_the_reply_streams(pieces):
    reply = 'Let me check.<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>'
    content, calls = _parse(reply, pieces)
    assert content == "Let me check."
    assert [(call.name, json.loads(call.arguments)) for call in calls] == [("get_weather", {"city": "Paris"})]
    assert calls[0].id.startswith("call_")


def test_two_calls_and_an_unclosed_last_one():
    reply = (
        '<tool_call>{"name": "get_weather", "arguments": {"city": "A"}}</tool_call>\n'
        '<tool_call>{"name": "get_weather", "parameters": {"city": "B"}}'
    )
    content, calls = _parse(reply, 7)
    assert [json.loads(call.arguments)["city"] for call in calls] == ["A", "B"]
    assert content.strip() == ""


@pytest.mark.parametrize(
    "reply",
    [
        "Plain answer with a < sign and <tool in it.",
        '<tool_call>{"name": "launch_rockets", "arguments": {}}</tool_call>',  # not an offered tool
        "<tool_call>not json</tool_call>",
    ],
)
def test_text_that_is_not_a_valid_call_stays_content(reply):
    content, calls = _parse(reply, 4)
    assert calls == [] and content == reply


def test_prepare_lists_tools_for_a_template_that_cannot_render_them():
    messages = [
        {"role": "user", "content": "Weather in Paris?"},
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                }
            ],
        },
        {"role": "tool", "content": "sunny", "tool_call_id": "call_1"},
    ]
    prepared = prepare_messages(messages, native=False, tools=[WEATHER])
    assert prepared[0]["role"] == "system" and '"get_weather"' in prepared[0]["content"]
    assert (
        '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>' == prepared[2]["content"]
    )
    assert prepared[3] == {"role": "tool", "content": "sunny"}
    native = prepare_messages(messages, native=True, tools=[WEATHER])
    assert native[1]["tool_calls"][0]["function"]["arguments"] == {"city": "Paris"}
    assert native[2]["tool_call_id"] == "call_1"


def test_template_detection():
    assert template_renders_tools("{% if tools %}{{ tools | tojson }}{% endif %}")
    assert not template_renders_tools("{% for message in messages %}{{ message.content }}{% endfor %}")


def test_the_call_grammar_compiles_for_required_and_named():
    other = {"type": "function", "function": {"name": "noop", "parameters": {"type": "object"}}}
    for choice in ("required", "get_weather", "noop"):
        grammar = ToolUse([WEATHER, other], choice).grammar()
        assert grammar is not None and grammar_error(grammar) is None
    assert ToolUse([WEATHER], "auto").grammar() is None
