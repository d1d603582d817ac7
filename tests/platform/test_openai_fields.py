"""The rest of OpenAI's request fields through the real server: structured outputs, logit_bias, penalties,
top_logprobs with exact bytes, fields refused by name, fields accepted without behaviour, one model by id."""

from __future__ import annotations

import json

import httpx
import pytest

openai = pytest.importorskip("openai")

MESSAGES = [{"role": "user", "content": "Describe a cat as JSON."}]
SCHEMA = {
    "type": "object",
    "properties": {
        "name": {"enum": ["Tom", "Felix"]},
        "indoor": {"type": "boolean"},
        "legs": {"enum": [3, 4]},
    },
    "required": ["name", "indoor", "legs"],
    "additionalProperties": False,
}


def _post(server, path: str, body: dict) -> httpx.Response:
    headers = {"Authorization": f"Bearer {server.api_key}"}
    return httpx.post(server.base_url + path, json=body, headers=headers, timeout=60)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_json_schema_output_always_validates(openai_client, server, seed):
    response = openai_client.chat.completions.create(
        model=server.model,
        messages=MESSAGES,
        max_tokens=80,
        temperature=1.0,
        seed=seed,
        response_format={"type": "json_schema", "json_schema": {"name": "cat", "schema": SCHEMA, "strict": True}},
    )
    choice = response.choices[0]
    assert choice.finish_reason == "stop"
    cat = json.loads(choice.message.content)
    assert set(cat) == {"name", "indoor", "legs"}
    assert cat["name"] in ("Tom", "Felix") and isinstance(cat["indoor"], bool) and cat["legs"] in (3, 4)


def test_constrained_and_free_requests_stream_together(openai_client, server):
    stream = openai_client.chat.completions.create(
        model=server.model,
        messages=MESSAGES,
        max_tokens=80,
        temperature=0.7,
        seed=5,
        n=3,
        stream=True,
        response_format={"type": "json_schema", "json_schema": {"name": "cat", "schema": SCHEMA}},
    )
    free = openai_client.chat.completions.create(model=server.model, messages=MESSAGES, max_tokens=8, temperature=0)
    texts = {0: "", 1: "", 2: ""}
    for chunk in stream:
        for choice in chunk.choices:
            texts[choice.index] += choice.delta.content or ""
    assert all(json.loads(text)["legs"] in (3, 4) for text in texts.values())
    assert free.choices[0].message.content is not None


def test_json_object_output_is_an_object(openai_client, server):
    response = openai_client.chat.completions.create(
        model=server.model, messages=MESSAGES, max_tokens=200, temperature=0, response_format={"type": "json_object"}
    )
    if response.choices[0].finish_reason == "stop":
        assert isinstance(json.loads(response.choices[0].message.content), dict)
    else:  # a random model may open objects forever; the prefix is still JSON-shaped
        assert response.choices[0].message.content.startswith("{")


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        (
            {"response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "bogus"}}}},
            "response_format.json_schema.schema",
        ),
        ({"response_format": {"type": "json_schema"}}, "response_format.json_schema"),
        ({"response_format": {"type": "xml"}}, "response_format.type"),
        ({"audio": {"voice": "alloy", "format": "wav"}}, "audio"),
        ({"functions": [{"name": "f"}]}, "functions"),
        ({"logit_bias": {"10000000": 5}}, "logit_bias"),
        ({"logit_bias": {"5": 500}}, "logit_bias"),
        ({"logit_bias": {"hello": 1}}, "logit_bias"),
        ({"top_logprobs": 2}, "top_logprobs"),
        ({"logprobs": True, "top_logprobs": 21}, "top_logprobs"),
        ({"presence_penalty": 3}, "presence_penalty"),
    ],
)
def test_fields_that_cannot_be_honoured_are_a_400_naming_them(server, extra, param):
    response = _post(server, "/chat/completions", {"model": server.model, "messages": MESSAGES, **extra})
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == param


def test_fields_without_behaviour_are_accepted(server):
    body = {"model": server.model, "messages": MESSAGES, "max_tokens": 2, "user": "u1", "metadata": {"a": "b"}}
    body |= {"store": False, "tools": [], "parallel_tool_calls": None}
    assert _post(server, "/chat/completions", body).status_code == 200


def test_top_logprobs_and_bytes_concatenate_to_the_content(openai_client, server):
    response = openai_client.chat.completions.create(
        model=server.model, messages=MESSAGES, max_tokens=12, temperature=0, logprobs=True, top_logprobs=3
    )
    choice = response.choices[0]
    entries = choice.logprobs.content
    assert bytes(b for entry in entries for b in entry.bytes).decode() == choice.message.content
    for entry in entries:
        assert len(entry.top_logprobs) == 3
        assert entry.top_logprobs[0].logprob == pytest.approx(entry.logprob, abs=1e-5)  # greedy: the top token


def test_completion_logprobs_k_gives_k_alternatives(openai_client, server):
    response = openai_client.completions.create(
        model=server.model, prompt="One two", max_tokens=4, temperature=0, logprobs=2
    )
    tops = response.choices[0].logprobs.top_logprobs
    assert len(tops) == len(response.choices[0].logprobs.tokens) and all(len(top) <= 2 for top in tops)


def test_logit_bias_of_100_forces_the_token(openai_client, server, saved_tiny_model):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(saved_tiny_model)
    plain = openai_client.completions.create(model=server.model, prompt=[5, 17, 42], max_tokens=3, temperature=0)
    forced = openai_client.completions.create(
        model=server.model, prompt=[5, 17, 42], max_tokens=3, temperature=0, logit_bias={"77": 100}
    )
    assert forced.choices[0].text == tokenizer.decode([77, 77, 77]) != plain.choices[0].text


def test_frequency_penalty_breaks_greedy_repetition(openai_client, server):
    def text(**fields) -> str:
        response = openai_client.completions.create(
            model=server.model, prompt="a a a a", max_tokens=24, temperature=0, **fields
        )
        return response.choices[0].text

    plain, penalised = text(), text(frequency_penalty=2.0, presence_penalty=2.0)
    assert plain != penalised
    assert len(set(penalised.split())) >= len(set(plain.split()))


def test_one_model_by_id(openai_client, server):
    model = openai_client.models.retrieve(server.model)
    assert model.id == server.model and model.object == "model"
    with pytest.raises(openai.NotFoundError):
        openai_client.models.retrieve("no-such-model")


def test_a_request_over_the_sequence_cap_is_a_400_naming_the_cap(server):
    body = {"model": server.model, "prompt": ["a", "b", "c"], "n": 3, "max_tokens": 2}  # 9 > the fixture's cap 8
    response = _post(server, "/completions", body)
    assert response.status_code == 400 and response.json()["error"]["param"] == "n"
    assert "HEADWATER_MAX_SEQUENCES_PER_REQUEST" in response.json()["error"]["message"]
