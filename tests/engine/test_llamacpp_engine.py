"""The llama.cpp engine over the built-in SmolLM2 GGUF, with an f16 and a q8_0 KV cache: greedy output equals
llama.cpp's own, a batch does not change a request's tokens (greedy or seeded), and aborts, budgets, grammars and load
reports behave as the transformers engine's do. Skipped when llama-cpp-python is not installed (`make llamacpp`)."""

from __future__ import annotations

import json
import time

import msgspec
import pytest
from pydantic import ValidationError

from headwater.config import Settings
from headwater.engine.grammar import json_schema_grammar
from headwater.engine.ipc import ModelSpec
from headwater.engine.protocol import EngineConfig, EngineRequest, SamplingParams
from headwater.engine.task_executor import build_engine
from tests.engine.streams import gather_to_end, run_to_end

llama_cpp = pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed: run `make llamacpp`")

from headwater.engine.llamacpp_engine import LlamaCppEngine  # noqa: E402
from headwater.models.gguf import gguf_serving_files, resolve_gguf  # noqa: E402
from headwater.models.tokenizer_text import chat_ids  # noqa: E402

CONFIG = EngineConfig(max_batch_tokens=256, kv_blocks=256, kv_block_size=32)
RIVER_SCHEMA = {
    "type": "object",
    "properties": {"river": {"type": "string", "maxLength": 24}},
    "required": ["river"],
    "additionalProperties": False,
}
"""Closes within the tests' 40 tokens whatever the sampled path (an open key or value could run past them)."""
RECOMPUTED = {"f16": 2, "q8_0": 1}
"""Prompt tokens computed again after a reused prefix, by cache type (`fewest_prompt_tokens`)."""


@pytest.fixture(scope="module")
def gguf():
    return resolve_gguf("smollm2-135m")


@pytest.fixture(scope="module")
def tokenizer(gguf, data_dir):
    return gguf_serving_files(gguf, data_dir)[0]


@pytest.fixture(scope="module", params=["f16", "q8_0"])
def engine(request, gguf, tokenizer):
    """Every test over both KV cache types: the q8_0 one computes attention with flash attention (`KV_CACHE_TYPES`)."""
    running = LlamaCppEngine(gguf, None, CONFIG, lambda: tokenizer, max_sequences=8, threads=2, kv_type=request.param)
    running.start()
    yield running
    running.shutdown()


def _outputs(engine, requests, timeout=120.0) -> dict[str, list]:
    return run_to_end(engine, requests, timeout)


def _tokens(outputs) -> dict[str, list[int]]:
    return {rid: [t for o in outs for t in o.token_ids] for rid, outs in outputs.items()}


def _prompt(tokenizer, text: str) -> list[int]:
    return chat_ids(tokenizer, [{"role": "user", "content": text}], add_generation_prompt=True)


def test_greedy_equals_llama_cpp_own_generation(engine, gguf, tokenizer, monkeypatch):
    prompt = _prompt(tokenizer, "Name three rivers of Europe.")
    outputs = _outputs(engine, [EngineRequest("g", prompt, SamplingParams(max_tokens=24, temperature=0))])
    defaults = llama_cpp.llama_cpp.llama_model_default_params

    def without_extra_buffers():  # as the engine loads it (see LlamaCppEngine's `repack`)
        params = defaults()
        params.use_extra_bufts = False
        return params

    monkeypatch.setattr(llama_cpp.llama_cpp, "llama_model_default_params", without_extra_buffers)
    cache = llama_cpp.GGML_TYPE_F16 if engine.kv_type == "f16" else llama_cpp.GGML_TYPE_Q8_0
    reference = llama_cpp.Llama(
        str(gguf),
        n_ctx=engine.max_request_tokens,
        n_threads=2,
        flash_attn=engine.kv_type != "f16",
        type_k=cache,
        type_v=cache,
        verbose=False,
    )
    expected = []
    for token in reference.generate(prompt, temp=0.0, top_k=1, reset=True):
        if token == tokenizer.eos_token_id or len(expected) == 24:
            break
        expected.append(token)
    assert _tokens(outputs)["g"] == expected
    logprobs = [p for o in outputs["g"] for p in o.logprobs]
    assert len(logprobs) == len(expected) and all(p <= 0 for p in logprobs)


def test_a_batch_does_not_change_a_request_greedy_or_seeded(engine, tokenizer):
    prompts = [_prompt(tokenizer, f"Write a sentence about the number {n}.") for n in range(6)]
    greedy = SamplingParams(max_tokens=16, temperature=0)
    seeded = SamplingParams(max_tokens=16, temperature=1.0, seed=7)
    alone = _tokens(_outputs(engine, [EngineRequest("a", prompts[0], greedy), EngineRequest("s", prompts[1], seeded)]))
    crowd = [
        EngineRequest(f"c{n}", prompt, SamplingParams(max_tokens=16, temperature=1.0))
        for n, prompt in enumerate(prompts)
    ]
    together = _tokens(
        _outputs(engine, [*crowd, EngineRequest("a", prompts[0], greedy), EngineRequest("s", prompts[1], seeded)])
    )
    assert together["a"] == alone["a"] and together["s"] == alone["s"]
    other_seed = _tokens(_outputs(engine, [EngineRequest("s2", prompts[1], SamplingParams(max_tokens=16, seed=8))]))
    assert other_seed["s2"] != alone["s"]


def test_seeded_requests_give_the_same_tokens_alone_and_in_a_batch_of_eight(engine, tokenizer):
    prompts = [_prompt(tokenizer, f"Tell me about the colour number {n}.") for n in range(8)]
    settings = [
        SamplingParams(max_tokens=12, temperature=0.9, seed=21),
        SamplingParams(max_tokens=12, temperature=0.7, top_p=0.8, seed=22),
        SamplingParams(max_tokens=12, temperature=1.2, top_k=20, seed=23, top_logprobs=2),
    ]
    seeded = [EngineRequest(f"s{n}", prompts[n], params) for n, params in enumerate(settings)]
    alone = {rid: tokens for request in seeded for rid, tokens in _tokens(_outputs(engine, [request])).items()}
    crowd = [
        EngineRequest(f"c{n}", prompts[n], SamplingParams(max_tokens=12, temperature=1.0, top_p=0.95))
        for n in range(3, 8)
    ]
    together = _tokens(_outputs(engine, [*crowd, *seeded]))
    assert {rid: together[rid] for rid in alone} == alone
    assert all(len(tokens) > 0 for tokens in alone.values())


def test_a_sequence_moved_into_a_freed_id_keeps_its_tokens_and_logprobs(engine, tokenizer):
    """Short requests take the low ids and finish first; the long one, on the highest id, is then moved down into
    a freed id (its KV stream copied, `_close_id_gaps`) and must go on exactly as it does alone."""
    prompt = _prompt(tokenizer, "Write a sentence about rivers.")
    params = SamplingParams(max_tokens=24, temperature=0.8, seed=5)
    alone = _outputs(engine, [EngineRequest("long", prompt, params)])["long"]
    short = [
        EngineRequest(f"short{n}", _prompt(tokenizer, f"Count to {n}."), SamplingParams(max_tokens=2, temperature=0))
        for n in range(5)
    ]
    moves: list[tuple[int, int]] = []
    close_gaps = engine._close_id_gaps

    def recording() -> None:
        before = {id(s): s.seq_id for s in engine._running.values()}
        close_gaps()
        moves.extend((before[id(s)], s.seq_id) for s in engine._running.values() if before[id(s)] != s.seq_id)

    engine._close_id_gaps = recording
    try:
        crowded = _outputs(engine, [*short, EngineRequest("long", prompt, params)])["long"]
    finally:
        del engine._close_id_gaps
    assert moves and moves[0][1] < moves[0][0]  # the long request was moved down
    assert [t for o in crowded for t in o.token_ids] == [t for o in alone for t in o.token_ids]
    assert [p for o in crowded for p in o.logprobs] == [p for o in alone for p in o.logprobs]


def test_budget_abort_and_load(engine, tokenizer):
    prompt = _prompt(tokenizer, "Tell a long story about a lighthouse keeper.")
    engine.add_request(EngineRequest("long", prompt, SamplingParams(max_tokens=400, temperature=0.8, seed=1)))
    deadline = time.monotonic() + 60
    seen = []
    while not seen and time.monotonic() < deadline:
        seen = [o for o in engine.get_outputs(0.5) if o.request_id == "long" and o.token_ids]
    report = engine.load()
    assert report.running == 1 and 0 < report.kv_blocks_used <= report.kv_blocks_total == CONFIG.kv_blocks
    engine.abort("long")
    finals = []
    while not finals and time.monotonic() < deadline:
        finals = [o for o in engine.get_outputs(0.5) if o.request_id == "long" and o.finish_reason]
    assert finals[0].finish_reason == "abort"
    assert engine.load().running == 0
    short = _outputs(engine, [EngineRequest("short", prompt, SamplingParams(max_tokens=5, temperature=0))])
    assert len(_tokens(short)["short"]) == 5 and short["short"][-1].finish_reason == "length"


def test_the_end_of_sequence_is_the_ggufs_and_the_tokenizer_loads_only_for_a_grammar(gguf, tokenizer):
    loads = []
    lazy = LlamaCppEngine(gguf, None, CONFIG, lambda: loads.append(1) or tokenizer, max_sequences=2, threads=2)
    lazy.start()
    try:
        assert lazy.eos_token_ids == [tokenizer.eos_token_id]
        free = EngineRequest("free", _prompt(tokenizer, "Hello."), SamplingParams(max_tokens=4, temperature=0))
        assert len(_tokens(_outputs(lazy, [free]))["free"]) >= 1 and loads == []
        params = SamplingParams(max_tokens=40, temperature=0.7, seed=4, grammar=json_schema_grammar(RIVER_SCHEMA))
        constrained = _outputs(lazy, [EngineRequest("json", _prompt(tokenizer, "Name a river as JSON."), params)])
        assert constrained["json"][-1].finish_reason == "stop" and loads == [1]  # the grammar's end: the eos
    finally:
        lazy.shutdown()


def test_a_grammar_and_top_logprobs_hold(engine, tokenizer):
    grammar = json_schema_grammar(RIVER_SCHEMA)
    params = SamplingParams(max_tokens=40, temperature=0.7, seed=4, grammar=grammar, top_logprobs=3)
    outputs = _outputs(engine, [EngineRequest("j", _prompt(tokenizer, "Name a river as JSON."), params)])["j"]
    text = tokenizer.decode([t for o in outputs for t in o.token_ids], skip_special_tokens=True)
    assert outputs[-1].finish_reason == "stop", text
    assert "river" in json.loads(text)
    tops = [top for o in outputs for top in o.top_logprobs]
    assert tops and all(len(top) == 3 for top in tops)


def test_a_request_larger_than_the_cache_fails_alone(engine, tokenizer):
    too_long = EngineRequest("big", [1] * 10, SamplingParams(max_tokens=engine.max_request_tokens))
    outputs = _outputs(engine, [too_long])["big"]
    assert outputs[-1].finish_reason == "error" and "exceed what one request may hold" in outputs[-1].error


def test_the_unified_cache_admits_within_its_cells_and_lets_one_request_use_them_all(gguf, tokenizer):
    config = EngineConfig(max_batch_tokens=128, kv_blocks=16, kv_block_size=32)  # 512 cells in all
    # no end-of-sequence token: each request runs to its budget, so the first holds its cells while we look
    unified = LlamaCppEngine(gguf, [], config, lambda: tokenizer, max_sequences=4, threads=2, exact=False)
    unified.start()
    try:
        assert unified.max_request_tokens == 512  # with streams it would be 128
        prompt = _prompt(tokenizer, "Count to ten.")
        budget = 400 - len(prompt)  # one request of 400 cells: a second one must wait for it
        requests = [EngineRequest(name, prompt, SamplingParams(max_tokens=budget, temperature=0)) for name in "ab"]
        for request in requests:
            unified.add_request(request)
        deadline = time.monotonic() + 60
        while unified.load().running == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        report = unified.load()
        assert report.running == 1 and report.waiting == 1
        unified.abort("a")
        unified.abort("b")
    finally:
        unified.shutdown()


@pytest.mark.parametrize("kv_type", ["f16", "q8_0"])
def test_a_long_request_gives_the_same_logprobs_alone_and_in_a_batch(gguf, tokenizer, kv_type):
    """Past 256 tokens in a stream of 512 cells or more, llama.cpp's flash attention over an f16 cache splits a lone
    token's cells and reduces them differently from a token among others; without it, or over a q8_0 cache
    (`KV_CACHE_TYPES`), the logprobs of a long sequence decoded alone or beside others stay exact."""
    # 4 streams of 512 cells; a budget that takes every prompt whole, so prompt chunks are the same both times
    config = EngineConfig(max_batch_tokens=512, kv_blocks=64, kv_block_size=32)
    long_engine = LlamaCppEngine(gguf, [], config, lambda: tokenizer, max_sequences=4, threads=2, kv_type=kv_type)
    long_engine.start()
    try:
        text = " ".join(f"River {n} flows to the sea." for n in range(40))
        prompt = _prompt(tokenizer, text)[:300]
        assert 256 < len(prompt) < 512 - 8
        params = SamplingParams(max_tokens=6, temperature=0.9, seed=5)
        alone = _outputs(long_engine, [EngineRequest("long", prompt, params)])["long"]
        crowd = [
            EngineRequest(f"c{n}", _prompt(tokenizer, f"Say {n}."), SamplingParams(max_tokens=12, seed=n))
            for n in range(3)
        ]
        together = _outputs(long_engine, [*crowd, EngineRequest("long", prompt, params)])["long"]
        assert [(o.token_ids, o.logprobs) for o in together] == [(o.token_ids, o.logprobs) for o in alone]
    finally:
        long_engine.shutdown()


def test_a_prompt_over_a_held_prefix_gives_what_a_fresh_engine_gives(engine, gguf, tokenizer):
    """A finished request's stream keeps its prompt; a later prompt sharing a prefix with it (another question on
    the same text, or the next turn of the conversation) starts from there, reports the tokens it reused, and gets
    the same tokens and logprobs as on an engine that computes the whole prompt. The new tail is
    under 64 tokens and the whole prompt over: with flash attention over an f16 cache the two would be computed by
    different paths."""
    text = " ".join(f"Fact {n}: river number {n} is {n + 3} hundred miles long." for n in range(8))
    first = _prompt(tokenizer, text + " Which river is the longest?")
    question = _prompt(tokenizer, text + " Which river is the shortest?")
    params = SamplingParams(max_tokens=8, temperature=0.8, seed=3)
    reply = _tokens(_outputs(engine, [EngineRequest("first", first, params)]))["first"]
    next_turn = first + reply + tokenizer.encode("<|im_end|>\n<|im_start|>user\nAnd the next?<|im_end|>\n")
    assert len(question) > 64 and len(first) > 64
    requests = [EngineRequest("question", question, params), EngineRequest("turn", next_turn, params)]
    reused = _outputs(engine, requests)
    shared = next(n for n, (a, b) in enumerate(zip(first, question, strict=False)) if a != b)
    assert reused["question"][0].cached_tokens == shared > len(question) - 64
    # its prompt; over a q8_0 cache its reply too, but for the last token, never decoded (`RunningSequence.held`)
    held_reply = len(reply) - 1 if engine.kv_type == "q8_0" else 0
    assert reused["turn"][0].cached_tokens == len(first) + held_reply
    fresh = LlamaCppEngine(
        gguf, [tokenizer.eos_token_id], CONFIG, lambda: tokenizer, max_sequences=8, threads=2, kv_type=engine.kv_type
    )
    fresh.start()
    try:
        whole = _outputs(fresh, requests)  # admitted together: neither holds anything the other could reuse
    finally:
        fresh.shutdown()
    assert [outputs[0].cached_tokens for outputs in whole.values()] == [0, 0]
    for name in ("question", "turn"):
        assert [(o.token_ids, o.logprobs) for o in reused[name]] == [(o.token_ids, o.logprobs) for o in whole[name]]


def test_a_tenant_never_starts_from_another_tenants_stream(engine, tokenizer):
    prompt = _prompt(tokenizer, "Describe the harbour at dawn in two sentences.")
    params = SamplingParams(max_tokens=4, temperature=0)
    _outputs(engine, [EngineRequest("a", prompt, params, cache_salt="tenant-a")])
    other = _outputs(engine, [EngineRequest("b", prompt, params, cache_salt="tenant-b")])["b"]
    again = _outputs(engine, [EngineRequest("a2", prompt, params, cache_salt="tenant-a")])["a2"]
    assert other[0].cached_tokens == 0 and again[0].cached_tokens == len(prompt) - RECOMPUTED[engine.kv_type]


def test_prompts_sent_again_together_reuse_their_own_streams_and_keep_their_tokens(engine, tokenizer):
    """Prompts seen before and sent again at once, while another request decodes, each start from the stream that
    holds them (all but their last tokens: `RECOMPUTED`), not from another's copy of the shared chat template; their
    equal tails are fed together (one micro-batch: `prompt_order`; over a q8_0 cache one token each, in the decode
    call). Their tokens and logprobs are those each got alone, and so are the decoding request's."""
    prompts = {f"p{n}": _prompt(tokenizer, f"In one sentence, what is river number {n} known for?") for n in range(4)}
    params = SamplingParams(max_tokens=6, temperature=0.8, seed=5)
    decoding = EngineRequest(
        "decoding",
        _prompt(tokenizer, "Name three long rivers."),
        SamplingParams(max_tokens=24, temperature=0.8, seed=9),
    )
    alone = _outputs(engine, [msgspec.structs.replace(decoding, request_id="decoding-alone")])
    for name, prompt in prompts.items():
        alone.update(_outputs(engine, [EngineRequest(name, prompt, params)]))
    engine.add_request(decoding)
    started = []
    while not started:  # its first token is out: it decodes from now on
        started = engine.get_outputs(30.0)
    again = [EngineRequest(f"{name}-again", prompt, params) for name, prompt in prompts.items()]
    with engine._lock:  # all four in the inbox before the engine looks: admitted, and their tails fed, in one step
        engine._inbox.extend(again)
    engine._wake.set()
    outputs = gather_to_end(engine, [request.request_id for request in again] + ["decoding"], 120.0)
    for name, prompt in prompts.items():
        repeated = outputs[f"{name}-again"]
        assert repeated[0].cached_tokens == len(prompt) - RECOMPUTED[engine.kv_type]
        assert [(o.token_ids, o.logprobs) for o in repeated] == [(o.token_ids, o.logprobs) for o in alone[name]]
    assert [t for o in started + outputs["decoding"] for t in o.token_ids] == _tokens(alone)["decoding-alone"]
    assert [p for o in started + outputs["decoding"] for p in o.logprobs] == [
        p for o in alone["decoding-alone"] for p in o.logprobs
    ]


def test_the_kv_type_setting_reaches_a_te_engine_and_its_cache(gguf, tokenizer, monkeypatch):
    """`HEADWATER_LLAMACPP_KV_TYPE` → the TE's `ModelSpec` → llama.cpp's cache: a q8_0 cache holds a sequence in about
    half the bytes of an f16 one (34 bytes per 32 values against 64)."""
    monkeypatch.delenv("HEADWATER_LLAMACPP_KV_TYPE", raising=False)
    assert Settings().llamacpp_kv_type == "q8_0"  # the default
    monkeypatch.setenv("HEADWATER_LLAMACPP_KV_TYPE", "f16")
    assert Settings().llamacpp_kv_type == "f16"
    monkeypatch.setenv("HEADWATER_LLAMACPP_KV_TYPE", "q4_0")
    with pytest.raises(ValidationError, match="llamacpp_kv_type"):
        Settings()
    prompt = _prompt(tokenizer, "Describe a quiet river at night.")
    state_bytes = {}
    for kv_type in ("f16", "q8_0"):
        spec = ModelSpec(str(gguf), engine=CONFIG, backend="llamacpp", max_sequences=2, kv_type=kv_type)
        built, _info, _phases, _kind = build_engine(spec)
        try:
            assert built.kv_type == kv_type
            _outputs(built, [EngineRequest("r", prompt, SamplingParams(max_tokens=2, temperature=0))])
            held = next(stream for stream, kept in built._streams.kept.items() if kept.tokens)  # the finished prompt
            state_bytes[kv_type] = llama_cpp.llama_state_seq_get_size(built._ctx, held)
        finally:
            built.shutdown()
    assert 0.4 < state_bytes["q8_0"] / state_bytes["f16"] < 0.6
