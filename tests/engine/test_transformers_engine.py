"""The transformers continuous-batching engine against model.generate, with aborts, stops and load reports."""

from __future__ import annotations

import json

import pytest
import torch

from headwater.engine.grammar import json_schema_grammar
from headwater.engine.protocol import EngineRequest, SamplingParams
from headwater.engine.transformers_engine import EngineConfig, TransformersEngine
from headwater.models.loading import load_model, load_tokenizer
from tests.engine.streams import run_to_end
from tests.waiting import wait_for


@pytest.fixture(scope="module")
def engine(tiny_chat_path):
    model = load_model(str(tiny_chat_path))
    tokenizer = load_tokenizer(str(tiny_chat_path))
    running = TransformersEngine(
        model, [tokenizer.eos_token_id], EngineConfig(max_batch_tokens=128, kv_blocks=64, kv_block_size=16), tokenizer
    )
    running.start()
    yield running
    running.shutdown()


def _outputs(engine, requests, timeout=60.0) -> dict[str, list]:
    return run_to_end(engine, requests, timeout)


def _collect(engine, requests, timeout=60.0):
    outputs = _outputs(engine, requests, timeout)
    tokens = {rid: [t for o in outs for t in o.token_ids] for rid, outs in outputs.items()}
    finished = {rid: outs[-1].finish_reason for rid, outs in outputs.items()}
    return tokens, finished


def test_greedy_matches_model_generate(engine):
    prompt = [5, 17, 42, 99, 7]
    tokens, finished = _collect(engine, [EngineRequest("g", prompt, SamplingParams(max_tokens=12, temperature=0))])
    with torch.no_grad():
        reference = engine.model.generate(
            torch.tensor([prompt]), max_new_tokens=12, do_sample=False, eos_token_id=None, pad_token_id=0
        )
    expected = reference[0, len(prompt) :].tolist()
    assert tokens["g"] and tokens["g"] == expected[: len(tokens["g"])]
    if finished["g"] == "stop":  # stopped early: only on the end-of-sequence token, which generate also made
        assert tokens["g"][-1] in engine.eos_token_ids and len(tokens["g"]) < 12
    else:
        assert (finished["g"], tokens["g"]) == ("length", expected)


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
    wait_for(lambda: engine.load().running == 1, "the long request to be generating")
    engine.abort("long")
    reasons = [output.finish_reason for output in engine.get_outputs(1.0) if output.request_id == "long"]
    assert reasons[-1] == "abort"
    wait_for(lambda: engine.load().running == 0, "the aborted request to leave the batch", timeout=10)
    later = _outputs(engine, [EngineRequest("after", [1, 2], SamplingParams(max_tokens=8, temperature=0))])
    assert later["after"], "the engine kept generating for other requests"
    # `_outputs` fails on any output of an id it did not send: nothing of "long" came while "after" ran
    stragglers = [output for output in engine.get_outputs(0.2) if output.request_id == "long"]
    assert stragglers == []


def test_load_report_counts_blocks(engine):
    report = engine.load()
    assert report.kv_blocks_total == 64
    assert 0 <= report.kv_blocks_used <= report.kv_blocks_total
    assert engine.is_alive()


def test_blocks_kept_for_their_prefix_are_not_counted_as_used(engine):
    prompt = [(7 * i) % 400 + 3 for i in range(40)]  # two full 16-token blocks, hashed and kept after the end
    _collect(engine, [EngineRequest("cached", prompt, SamplingParams(max_tokens=2, temperature=0))])
    report = wait_for(lambda: (load := engine.load()).running == 0 and load, "the finished request to leave")
    assert report.kv_blocks_cached >= 2
    assert report.kv_blocks_used == 0  # nothing is running: no block is in use


def test_grammar_and_free_requests_share_a_batch(engine, tiny_chat_path):
    tokenizer = load_tokenizer(str(tiny_chat_path))
    schema = {
        "type": "object",
        "properties": {"ok": {"type": "boolean"}, "tag": {"enum": ["x", "yy"]}},
        "required": ["ok", "tag"],
        "additionalProperties": False,
    }
    constrained = SamplingParams(max_tokens=60, temperature=1.0, seed=3, grammar=json_schema_grammar(schema))
    free = SamplingParams(max_tokens=20, temperature=0)
    requests = [EngineRequest(f"j{i}", [5, 6, 7 + i], constrained) for i in range(3)]
    requests.append(EngineRequest("free", [5, 17, 42, 99, 7], free))
    tokens, finished = _collect(engine, requests)
    for i in range(3):
        assert finished[f"j{i}"] == "stop"
        document = json.loads(tokenizer.decode(tokens[f"j{i}"], skip_special_tokens=True))
        assert isinstance(document["ok"], bool) and document["tag"] in ("x", "yy")
    alone, _ = _collect(engine, [EngineRequest("free-alone", [5, 17, 42, 99, 7], free)])
    assert tokens["free"] == alone["free-alone"]  # masks of other rows never touch a free row


def test_top_logprobs_come_with_each_token_and_match_the_logprob(engine):
    params = SamplingParams(max_tokens=6, temperature=0, top_logprobs=3)
    outputs = _outputs(engine, [EngineRequest("t", [9, 8, 7], params)])["t"]
    tops = [top for output in outputs for top in output.top_logprobs]
    tokens = [token for output in outputs for token in output.token_ids]
    logprobs = [value for output in outputs for value in output.logprobs]
    assert len(tops) == len(tokens) == 6
    for token, logprob, top in zip(tokens, logprobs, tops, strict=True):
        assert len(top) == 3 and top[0][0] == token  # greedy: the chosen token is the most likely
        assert top[0][1] == pytest.approx(logprob, abs=1e-5)
        assert top[0][1] >= top[1][1] >= top[2][1]


def test_logit_bias_of_minus_100_bans_the_greedy_token(engine):
    prompt = [5, 17, 42, 99, 7]
    greedy, _ = _collect(engine, [EngineRequest("g0", prompt, SamplingParams(max_tokens=1, temperature=0))])
    banned = greedy["g0"][0]
    params = SamplingParams(max_tokens=1, temperature=0, logit_bias={banned: -100.0})
    biased, _ = _collect(engine, [EngineRequest("g1", prompt, params)])
    assert biased["g1"][0] != banned


def test_a_grammar_the_engine_cannot_build_fails_only_that_request(engine):
    bad = SamplingParams(max_tokens=4, grammar="start: nonsense_rule_that_is_never_defined")
    outputs = _outputs(engine, [EngineRequest("bad", [1, 2], bad), EngineRequest("ok", [1, 2], SamplingParams(4))])
    assert outputs["bad"][-1].finish_reason == "error" and "grammar" in outputs["bad"][-1].error
    assert outputs["ok"][-1].finish_reason in {"stop", "length"}
