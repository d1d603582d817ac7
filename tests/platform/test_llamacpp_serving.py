"""The built-in SmolLM2 GGUF served by the llama.cpp engine through the whole platform: chat, streaming, seeded
reproducibility, a repeated prompt's reused prefix in `usage`, and each TE's engine in /health and /v1/models.
Skipped without llama-cpp-python."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import RunningServer, start_server

pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed: run `make llamacpp`")
openai = pytest.importorskip("openai")


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory) -> Iterator[RunningServer]:
    folder = tmp_path_factory.mktemp("llamacpp")
    catalogue = folder / "models.yaml"
    catalogue.write_text("models:\n  - model: smollm2-135m\n    name: smol-gguf\n    engine: llamacpp\n")
    env = {"HEADWATER_POOL_SIZE": "0", "HEADWATER_ENGINE_MAX_SEQUENCES": "8", "HEADWATER_KV_BLOCKS": "256"}
    running = start_server(None, folder / "data", "smol-gguf", env, ["--models", str(catalogue)])
    yield running
    running.stop()


def test_a_gguf_model_answers_through_the_platform(llama_server):
    client = openai.OpenAI(base_url=llama_server.base_url, api_key=llama_server.api_key, max_retries=0, timeout=120)
    [card] = client.models.list().data
    assert card.id == "smol-gguf" and card.model_dump()["engine"] == "llamacpp"
    assert card.model_dump()["context_window"] == 256 * 32 // 8  # one KV stream of the engine
    tes = llama_server.health()["models"]["smol-gguf"]
    assert tes and all(te["engine"] == "llamacpp" and te["kv_cache"] == "q8_0" for te in tes)
    messages = [{"role": "user", "content": "What is the capital of France?"}]
    answer = client.chat.completions.create(model="smol-gguf", messages=messages, max_tokens=16, temperature=0)
    assert answer.choices[0].message.content.strip() and answer.usage.completion_tokens == 16
    again = client.chat.completions.create(model="smol-gguf", messages=messages, max_tokens=16, temperature=0)
    # the stream kept it: all but its last token is reused (over the default q8_0 cache)
    assert again.usage.prompt_tokens_details.cached_tokens == again.usage.prompt_tokens - 1
    assert again.choices[0].message.content == answer.choices[0].message.content
    seeded = [
        client.chat.completions.create(model="smol-gguf", messages=messages, max_tokens=12, seed=5, n=2)
        for _ in range(2)
    ]
    texts = [[choice.message.content for choice in response.choices] for response in seeded]
    assert texts[0] == texts[1]
    stream = client.chat.completions.create(
        model="smol-gguf", messages=messages, max_tokens=8, temperature=0, stream=True, logprobs=True
    )
    chunks = [chunk for chunk in stream if chunk.choices]
    streamed = "".join(chunk.choices[0].delta.content or "" for chunk in chunks)
    assert streamed and streamed == answer.choices[0].message.content[: len(streamed)]
    assert all(
        entry.logprob <= 0
        for chunk in chunks
        if chunk.choices[0].logprobs
        for entry in chunk.choices[0].logprobs.content
    )
