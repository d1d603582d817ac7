"""Prefill/decode disaggregation at the engine boundary: a prefill engine hands its prompt KV to a decode engine
through shared memory or a socket, and greedy output through the pair equals the colocated output token for
token."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest
import torch

from headwater.engine.kv_socket import SocketTransport, fetch
from headwater.engine.kv_transfer import SharedMemoryTransport, discard
from headwater.engine.protocol import EngineConfig, EngineOutput, EngineRequest, KVHandoff, SamplingParams
from headwater.engine.transformers_engine import TransformersEngine
from headwater.models.loading import load_model, load_tokenizer
from tests.engine.streams import run_to_end

BLOCK = 16
PROMPT = [(7 * i + 3) % 500 + 5 for i in range(70)]  # 4 full blocks and a 6-token tail


def _engine(path: Path, mode: str, kv_dir: Path, **transport: str) -> TransformersEngine:
    config = EngineConfig(
        max_batch_tokens=128, kv_blocks=64, kv_block_size=BLOCK, mode=mode, kv_dir=str(kv_dir), **transport
    )
    tokenizer = load_tokenizer(str(path))
    engine = TransformersEngine(load_model(str(path)), [tokenizer.eos_token_id], config, tokenizer)
    engine.start()
    return engine


@pytest.fixture(scope="module")
def engines(tiny_chat_path, tmp_path_factory):
    kv_dir = tmp_path_factory.mktemp("kv")
    running = {mode: _engine(tiny_chat_path, mode, kv_dir) for mode in ("colocated", "prefill", "decode")}
    yield running, kv_dir
    for engine in running.values():
        engine.shutdown()


def _tokens(outputs: list[EngineOutput]) -> list[int]:
    return [token for output in outputs for token in output.token_ids]


def _prefill(engine: TransformersEngine, request_id: str, prompt: list[int], salt: str | None) -> EngineOutput:
    params = SamplingParams(max_tokens=1, temperature=0)
    (final,) = run_to_end(engine, [EngineRequest(request_id, prompt, params, cache_salt=salt)])[request_id]
    return final


def test_greedy_through_a_prefill_decode_pair_equals_colocated(engines):
    running, kv_dir = engines
    params = SamplingParams(max_tokens=12, temperature=0)
    (colocated,) = run_to_end(running["colocated"], [EngineRequest("c", PROMPT, params, cache_salt="t")]).values()
    first = _prefill(running["prefill"], "p", PROMPT, "t")
    handoff = first.kv_handoff
    assert handoff is not None and first.finish_reason == "length" and len(first.token_ids) == 1
    assert len(handoff.block_hashes) == len(PROMPT) // BLOCK and Path(handoff.location).parent == kv_dir
    assert handoff.nbytes == len(handoff.block_hashes) * handoff.bytes_per_block and first.kv_transfer_s > 0
    decode_request = EngineRequest(
        "d",
        PROMPT + first.token_ids,
        msgspec.structs.replace(params, max_tokens=11),
        cache_salt="t",
        kv_handoff=handoff,
    )
    decoded = run_to_end(running["decode"], [decode_request])["d"]
    assert first.token_ids + _tokens(decoded) == _tokens(colocated)
    assert decoded[0].cached_tokens == len(handoff.block_hashes) * BLOCK  # the prompt came from the hand-off
    assert not Path(handoff.location).exists() and not list(kv_dir.iterdir())  # the decode TE took and freed it


def test_a_hand_off_under_another_salt_is_recomputed_not_matched(engines):
    """One tenant's KV never serves another's request, even when handed over: the hashes do not chain."""
    running, _ = engines
    first = _prefill(running["prefill"], "p-a", PROMPT[::-1], "tenant-a")
    request = EngineRequest(
        "d-b",
        PROMPT[::-1] + first.token_ids,
        SamplingParams(max_tokens=3, temperature=0),
        cache_salt="tenant-b",
        kv_handoff=first.kv_handoff,
    )
    decoded = run_to_end(running["decode"], [request])["d-b"]
    assert decoded[0].cached_tokens == 0 and decoded[-1].finish_reason == "length"


def test_a_missing_hand_off_falls_back_to_recomputing(engines):
    running, _ = engines
    prompt = PROMPT[5:]
    first = _prefill(running["prefill"], "p-gone", prompt, None)
    assert first.kv_handoff is not None
    discard(first.kv_handoff)  # the gateway gave up on it, or the file was lost
    params = SamplingParams(max_tokens=4, temperature=0)
    request = EngineRequest("d-gone", prompt + first.token_ids, params, kv_handoff=first.kv_handoff)
    decoded = run_to_end(running["decode"], [request])["d-gone"]
    colocated_params = msgspec.structs.replace(params, max_tokens=5)
    (colocated,) = run_to_end(running["colocated"], [EngineRequest("c-gone", prompt, colocated_params)]).values()
    assert decoded[0].cached_tokens == 0
    assert first.token_ids + _tokens(decoded) == _tokens(colocated)


def test_shared_memory_transport_round_trip(tmp_path):
    transport = SharedMemoryTransport(tmp_path)
    blocks = torch.arange(3 * 8, dtype=torch.uint8).view(3, 8)
    handoff = transport.put("r", blocks, KVHandoff("", "", 4, [1, 2, 3], 8))
    assert handoff.transport == "shm" and handoff.nbytes == 24 and Path(handoff.location).exists()
    taken = transport.take(handoff)
    assert taken is not None and torch.equal(taken, blocks)
    assert not Path(handoff.location).exists() and transport.take(handoff) is None


@pytest.fixture(scope="module")
def socket_pair(tiny_chat_path, tmp_path_factory):
    """A prefill and a decode engine handing KV over TCP (as on two hosts: nothing goes through a folder)."""
    kv_dir = tmp_path_factory.mktemp("unused-kv")
    socket = {"kv_transport": "socket", "kv_address": "127.0.0.1"}
    running = {mode: _engine(tiny_chat_path, mode, kv_dir, **socket) for mode in ("prefill", "decode")}
    yield running
    for engine in running.values():
        engine.shutdown()


def test_greedy_through_a_pair_over_a_socket_equals_colocated(engines, socket_pair):
    colocated_engine = engines[0]["colocated"]
    params = SamplingParams(max_tokens=12, temperature=0)
    prompt = PROMPT[3:]
    (colocated,) = run_to_end(colocated_engine, [EngineRequest("sc", prompt, params, cache_salt="t")]).values()
    first = _prefill(socket_pair["prefill"], "sp", prompt, "t")
    handoff = first.kv_handoff
    assert handoff is not None and handoff.transport == "socket" and handoff.location.startswith("127.0.0.1:")
    assert handoff.nbytes == len(handoff.block_hashes) * handoff.bytes_per_block > 0
    decode_request = EngineRequest(
        "sd",
        prompt + first.token_ids,
        msgspec.structs.replace(params, max_tokens=11),
        cache_salt="t",
        kv_handoff=handoff,
    )
    decoded = run_to_end(socket_pair["decode"], [decode_request])["sd"]
    assert first.token_ids + _tokens(decoded) == _tokens(colocated)
    assert decoded[0].cached_tokens == len(handoff.block_hashes) * BLOCK > 0  # the prompt came over the socket
    assert decoded[0].kv_transfer_s > 0 and fetch(handoff) is None  # taken once, then freed by the server


def test_a_socket_hand_off_that_is_gone_is_recomputed(engines, socket_pair):
    prompt = PROMPT[9:]
    first = _prefill(socket_pair["prefill"], "sp-gone", prompt, None)
    assert first.kv_handoff is not None
    SocketTransport().discard(first.kv_handoff)  # the gateway gave up on it (or its TTL passed)
    params = SamplingParams(max_tokens=4, temperature=0)
    request = EngineRequest("sd-gone", prompt + first.token_ids, params, kv_handoff=first.kv_handoff)
    decoded = run_to_end(socket_pair["decode"], [request])["sd-gone"]
    colocated_params = msgspec.structs.replace(params, max_tokens=5)
    (colocated,) = run_to_end(engines[0]["colocated"], [EngineRequest("sc-gone", prompt, colocated_params)]).values()
    assert decoded[0].cached_tokens == 0
    assert first.token_ids + _tokens(decoded) == _tokens(colocated)
