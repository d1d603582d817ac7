"""The socket KV transport on its own: a prefill TE's server hands blocks to a decode TE over TCP once, to the
holder of the token only, and frees what nobody takes (TTL) or what the gateway discards."""

from __future__ import annotations

import socket

import msgspec
import pytest
import torch
from pydantic import ValidationError

from headwater.config import Settings
from headwater.engine.kv_address import parse_address
from headwater.engine.kv_socket import (
    HandoffStore,
    SocketTransport,
    discard_remote,
    fetch,
    parse_location,
)
from headwater.engine.kv_transfer import discard, make_transport
from headwater.engine.protocol import EngineConfig, KVHandoff
from tests.waiting import wait_for

TEMPLATE = KVHandoff("", "", 4, [11, 12, 13], 8)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def server():
    transport = SocketTransport("127.0.0.1:0")
    yield transport
    transport.close()


def _blocks(rows: int = 3, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (rows, 8), dtype=torch.uint8, generator=generator)


def _with_token(handoff: KVHandoff, token: bytes) -> KVHandoff:
    host, port, handoff_id, _ = parse_location(handoff.location)
    return msgspec.structs.replace(handoff, location=f"{host}:{port}/{handoff_id.hex()}/{token.hex()}")


def test_put_then_take_returns_the_same_bytes_once(server):
    blocks = _blocks()
    handoff = server.put("r", blocks, TEMPLATE)
    assert handoff.transport == "socket" and handoff.nbytes == blocks.numel() == 24
    assert handoff.block_hashes == [11, 12, 13] and handoff.location.startswith(server.address + "/")
    decode_side = SocketTransport()  # another engine's transport: a client only, it never listens
    taken = decode_side.take(handoff)
    assert taken is not None and taken.dtype == torch.uint8 and torch.equal(taken, blocks)
    assert len(server.store) == 0 and server.store.nbytes == 0  # the server freed them as it sent them
    assert decode_side.take(handoff) is None  # one-time


def test_a_wrong_token_is_refused_and_leaves_the_blocks_to_their_holder(server):
    blocks = _blocks(seed=1)
    handoff = server.put("r", blocks, TEMPLATE)
    _, _, _, token = parse_location(handoff.location)
    forged = _with_token(handoff, bytes(16))
    assert forged.location != handoff.location and fetch(forged) is None
    assert discard_remote(forged) and len(server.store) == 1  # a discard needs the token too
    taken = fetch(_with_token(handoff, token))
    assert taken is not None and torch.equal(taken, blocks)


def test_a_size_that_does_not_match_the_hand_off_is_not_imported(server):
    handoff = server.put("r", _blocks(), TEMPLATE)
    assert fetch(msgspec.structs.replace(handoff, nbytes=16)) is None


def test_blocks_nobody_takes_are_freed_after_the_ttl():
    clock = Clock()
    transport = SocketTransport("127.0.0.1:0", ttl_s=30, clock=clock)
    try:
        kept = transport.put("a", _blocks(), TEMPLATE)
        clock.now += 20
        late = transport.put("b", _blocks(2), TEMPLATE)
        clock.now += 15  # the first is 35 s old, the second 15 s
        assert transport.store.sweep() == 1 and transport.store.nbytes == 16
        assert transport.take(kept) is None
        clock.now += 20
        assert transport.take(late) is None and len(transport.store) == 0  # expired on read, even unswept
    finally:
        transport.close()


def test_the_store_sweeps_expired_entries_while_serving():
    clock = Clock()
    transport = SocketTransport("127.0.0.1:0", ttl_s=1, clock=clock)
    try:
        transport.put("a", _blocks(), TEMPLATE)
        clock.now += 2
        wait_for(lambda: len(transport.store) == 0, "the server's sweep (about twice a second)")
    finally:
        transport.close()


def test_a_discard_frees_the_blocks(server):
    handoff = server.put("r", _blocks(), TEMPLATE)
    assert discard_remote(handoff) and len(server.store) == 0 and fetch(handoff) is None
    second = server.put("s", _blocks(), TEMPLATE)
    discard(second)  # the gateway's call: sent from a background thread, never blocking its event loop
    wait_for(lambda: len(server.store) == 0, "the background discard")
    third = server.put("t", _blocks(), TEMPLATE)
    server.discard(third)  # the prefill engine's own (a failed request): freed in place
    assert len(server.store) == 0


def test_an_unreachable_prefill_te_reads_as_missing():
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    handoff = KVHandoff("socket", f"127.0.0.1:{port}/{'ab' * 16}/{'cd' * 16}", 4, [1], 8, 8)
    assert fetch(handoff) is None and not discard_remote(handoff)
    assert fetch(msgspec.structs.replace(handoff, location="not a location")) is None
    assert fetch(msgspec.structs.replace(handoff, transport="shm")) is None


def test_the_default_address_is_this_hosts_and_serves():
    transport = SocketTransport()
    try:
        host, port = parse_address(transport.start())
        assert host and port > 0
        taken = fetch(transport.put("r", _blocks(), TEMPLATE))
        assert taken is not None and torch.equal(taken, _blocks())
    finally:
        transport.close()


def test_closing_stops_serving_and_frees_everything():
    transport = SocketTransport("127.0.0.1:0")
    handoff = transport.put("r", _blocks(), TEMPLATE)
    transport.close()
    assert len(transport.store) == 0 and fetch(handoff) is None


def test_addresses_and_config():
    assert parse_address("") == ("", 0) and parse_address(":7000") == ("", 7000)
    assert parse_address("10.0.0.5:7000") == ("10.0.0.5", 7000) and parse_address("[::1]:9") == ("::1", 9)
    assert parse_address("0.0.0.0") == ("0.0.0.0", 0)
    for bad in ("host:port", "h:70000"):
        with pytest.raises(ValueError, match="kv_address"):
            parse_address(bad)
    with pytest.raises(ValueError, match="uint8"):
        SocketTransport("127.0.0.1:0").put("r", torch.zeros(2, 2), TEMPLATE)
    with pytest.raises(ValueError, match="ttl_s"):
        HandoffStore(ttl_s=0)
    settings = Settings(kv_transport="socket", kv_address="0.0.0.0:7100")
    assert (settings.engine.kv_transport, settings.engine.kv_address) == ("socket", "0.0.0.0:7100")
    with pytest.raises(ValidationError, match="kv_address"):
        Settings(kv_address="host:port")
    decode = make_transport(EngineConfig(mode="decode", kv_transport="socket"))
    assert isinstance(decode, SocketTransport) and decode.address == ""  # a decode TE does not listen
    prefill = make_transport(EngineConfig(mode="prefill", kv_transport="socket", kv_address="127.0.0.1"))
    assert isinstance(prefill, SocketTransport) and prefill.address.startswith("127.0.0.1:")
    prefill.close()
    with socket.socket() as taken:  # an address that cannot be bound fails the TE's start, naming the setting
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = f"127.0.0.1:{taken.getsockname()[1]}"
        with pytest.raises(ValueError, match="HEADWATER_KV_ADDRESS"):
            make_transport(EngineConfig(mode="prefill", kv_transport="socket", kv_address=busy))
