"""The transformers continuous-batching engine against model.generate, with aborts, stops and load reports."""

from __future__ import annotations

import time

import pytest
import torch

from headwater.engine.protocol import EngineRequest, SamplingParams
from headwater.engine.transformers_engine import EngineConfig, TransformersEngine
from headwater.models.loading import load_model, load_tokenizer


@pytest.fixture(scope="module")
def engine(tiny_chat_path):
    model = load_model(str(tiny_chat_path))
    tokenizer = load_tokenizer(str(tiny_chat_path))
    running = TransformersEngine(
        model, [tokenizer.eos_token_id], EngineConfig(max_batch_tokens=128, kv_blocks=64, kv_block_size=16)
    )
    running.start()
    yield running
    running.shutdown()


def _collect(engine, requests, timeout=60.0):
    for request in requests:
        engine.add_request(request)
    tokens = {request.request_id: [] for request in requests}
    finished = {}
    deadline = time.monotonic() + timeout
    while len(finished) < len(requests) and time.monotonic() < deadline:
        for output in engine.get_outputs(0.5):
            tokens[output.request_id] += output.token_ids
            if output.finish_reason:
                finished[output.request_id] = output.finish_reason
    return tokens, finished


def test_greedy_matches_model_generate(engine):
    prompt = [5, 17, 42, 99, 7]
    tokens, finished = _collect(engine, [EngineRequest("g", prompt, SamplingParams(max_tokens=12, temperature=0))])
    with torch.no_grad():
        reference = engine.model.generate(
            torch.tensor([prompt]), max_new_tokens=12, do_sample=False, eos_token_id=None, pad_token_id=0
        )
    expected = reference[0, len(prompt) :].tolist()
    assert tokens["g"] == expected[: len(tokens["g"])]
    assert finished["g"] in {"length", "stop"}


def test_many_concurrent_requests_each_get_their_budget(engine):
    requests = [
        EngineRequest(f"r{i}", [3 + i, 9, 11], SamplingParams(max_tokens=5 + i, temperature=1.0, seed=i))
        for i in range(10)
    ]
    tokens, finished = _collect(engine, requests)
    assert len(finished) == 10
    for i in range(10):
        assert len(tokens[f"r{i}"]) <= 5 + i
        if finished[f"r{i}"] == "length":
            assert len(tokens[f"r{i}"]) == 5 + i


def test_seeded_requests_repeat_exactly(engine):
    request = EngineRequest("a", [1, 2, 3], SamplingParams(max_tokens=10, temperature=1.0, seed=99))
    first, _ = _collect(engine, [request])
    second, _ = _collect(engine, [EngineRequest("b", [1, 2, 3], request.params)])
    assert first["a"] == second["b"]


def test_stop_token_ids_finish_with_stop(engine):
    greedy, _ = _collect(engine, [EngineRequest("x", [4, 4, 4], SamplingParams(max_tokens=6, temperature=0))])
    stop_token = greedy["x"][2]
    tokens, finished = _collect(
        engine,
        [EngineRequest("y", [4, 4, 4], SamplingParams(max_tokens=6, temperature=0), stop_token_ids=[stop_token])],
    )
    assert finished["y"] == "stop"
    assert tokens["y"][-1] == stop_token
    assert len(tokens["y"]) == greedy["x"].index(stop_token) + 1


def test_abort_ends_a_request_at_once(engine):
    engine.add_request(EngineRequest("long", [1, 2], SamplingParams(max_tokens=800)))
    time.sleep(0.2)
    engine.abort("long")
    reasons = [output.finish_reason for output in engine.get_outputs(1.0) if output.request_id == "long"]
    assert reasons[-1] == "abort"
    time.sleep(0.3)
    assert all(output.request_id != "long" for output in engine.get_outputs(0.2))


def test_load_report_counts_blocks(engine):
    report = engine.load()
    assert report.kv_blocks_total == 64
    assert 0 <= report.kv_blocks_used <= report.kv_blocks_total
    assert engine.is_alive()
