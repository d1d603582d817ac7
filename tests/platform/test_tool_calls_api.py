"""Tool calls through the real server, with the official client and with LangChain's `bind_tools`.

The served model is random (tiny-local), so these tests force a call (`required` or a named function): the
grammar then guarantees a call whose arguments validate, which is what they check. Parsing of free replies
(`auto`) is tested on scripted text in test_tools.py."""

from __future__ import annotations

import json

import httpx
import pytest

openai = pytest.importorskip("openai")

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"enum": ["Paris", "Rome"]}, "unit": {"enum": ["C", "F"]}},
            "required": ["city", "unit"],
            "additionalProperties": False,
        },
    },
}
TIME = {
    "type": "function",
    "function": {
        "name": "get_time",
        "parameters": {
            "type": "object",
            "properties": {"zone": {"enum": ["UTC", "CET"]}},
            "required": ["zone"],
            "additionalProperties": False,
        },
    },
}
MESSAGES = [{"role": "user", "content": "What is the weather in Paris?"}]


def _check_weather_call(call) -> None:
    assert call.type == "function" and call.id.startswith("call_")
    assert call.function.name == "get_weather"
    arguments = json.loads(call.function.arguments)
    assert arguments["city"] in ("Paris", "Rome") and arguments["unit"] in ("C", "F")


@pytest.mark.parametrize("seed", [0, 1])
def test_required_tool_choice_gives_a_call_that_validates(openai_client, server, seed):
    response = openai_client.chat.completions.create(
        model=server.model,
        messages=MESSAGES,
        tools=[WEATHER],
        tool_choice="required",
        max_tokens=80,
        temperature=1.0,
        seed=seed,
    )
    choice = response.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    _check_weather_call(choice.message.tool_calls[0])


def test_a_named_function_is_the_one_called(openai_client, server):
    response = openai_client.chat.completions.create(
        model=server.model,
        messages=MESSAGES,
        tools=[TIME, WEATHER],
        tool_choice={"type": "function", "function": {"name": "get_time"}},
        max_tokens=80,
        temperature=0,
    )
    call = response.choices[0].message.tool_calls[0]
    assert call.function.name == "get_time" and json.loads(call.function.arguments)["zone"] in ("UTC", "CET")


def test_streamed_tool_calls_assemble_like_openais(openai_client, server):
    stream = openai_client.chat.completions.create(
        model=server.model, messages=MESSAGES, tools=[WEATHER], tool_choice="required", max_tokens=80, stream=True
    )
    calls: dict[int, dict] = {}
    finish = None
    for chunk in stream:
        for choice in chunk.choices:
            finish = choice.finish_reason or finish
            for delta in choice.delta.tool_calls or []:
                entry = calls.setdefault(delta.index, {"name": "", "arguments": "", "id": None})
                entry["id"] = entry["id"] or delta.id
                entry["name"] += delta.function.name or ""
                entry["arguments"] += delta.function.arguments or ""
    assert finish == "tool_calls"
    assert calls[0]["name"] == "get_weather" and json.loads(calls[0]["arguments"])["unit"] in ("C", "F")


def test_a_conversation_with_a_tool_result_continues(openai_client, server):
    first = openai_client.chat.completions.create(
        model=server.model, messages=MESSAGES, tools=[WEATHER], tool_choice="required", max_tokens=80, temperature=0
    )
    call = first.choices[0].message.tool_calls[0]
    followed = openai_client.chat.completions.create(
        model=server.model,
        messages=[
            *MESSAGES,
            first.choices[0].message.model_dump(exclude_none=True),
            {"role": "tool", "tool_call_id": call.id, "content": "18 degrees, sunny"},
        ],
        tools=[WEATHER],
        max_tokens=8,
        temperature=0,
    )
    assert followed.choices[0].finish_reason in ("stop", "length", "tool_calls")


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"tool_choice": "required"}, "tool_choice"),
        (
            {"tools": [WEATHER], "tool_choice": {"type": "function", "function": {"name": "nope"}}},
            "tool_choice.function.name",
        ),
        ({"tools": [WEATHER, WEATHER]}, "tools"),
        ({"tools": [{"type": "function", "function": {"name": "bad name!"}}]}, "tools.0.function.name"),
        (
            {"tools": [WEATHER], "tool_choice": "required", "response_format": {"type": "json_object"}},
            "response_format",
        ),
    ],
)
def test_bad_tool_fields_are_a_400_naming_the_field(server, extra, param):
    response = httpx.post(
        server.base_url + "/chat/completions",
        json={"model": server.model, "messages": MESSAGES, **extra},
        headers={"Authorization": f"Bearer {server.api_key}"},
        timeout=30,
    )
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == param


def test_langchain_bind_tools_works_unchanged(server):
    langchain_openai = pytest.importorskip("langchain_openai")
    from pydantic import BaseModel, Field

    class GetWeather(BaseModel):
        """The weather in a city."""

        city: str = Field(json_schema_extra={"enum": ["Paris", "Rome"]})

    chat = langchain_openai.ChatOpenAI(
        model=server.model, base_url=server.base_url, api_key=server.api_key, max_tokens=80, temperature=0
    )
    reply = chat.bind_tools([GetWeather], tool_choice="GetWeather", strict=True).invoke("Weather in Rome?")
    assert reply.tool_calls and reply.tool_calls[0]["name"] == "GetWeather"
    assert reply.tool_calls[0]["args"]["city"] in ("Paris", "Rome")
