"""Messages between the gateway and a task executor (TE), sent as MessagePack over ZeroMQ sockets.

The gateway binds two sockets per TE incarnation (requests out, outputs in) on Unix-domain (ipc://) paths; the TE
connects to both. Every message is one tagged msgspec Struct, so both sides decode into types, not dicts.
"""

from __future__ import annotations

import msgspec

from headwater.engine.protocol import EngineInfo, EngineOutput, EngineRequest, LoadReport


class AddRequest(msgspec.Struct, tag="add"):
    """Gateway → TE: start generating."""

    request: EngineRequest


class AbortRequest(msgspec.Struct, tag="abort"):
    """Gateway → TE: stop a request (client gone, stop string matched)."""

    request_id: str


class Shutdown(msgspec.Struct, tag="shutdown"):
    """Gateway → TE: finish and exit."""


class Ready(msgspec.Struct, tag="ready"):
    """TE → gateway: the model is loaded and the engine accepts requests."""

    pid: int
    load_seconds: float
    info: EngineInfo = EngineInfo()


class Outputs(msgspec.Struct, tag="outputs"):
    """TE → gateway: token deltas of one engine step, batched to keep IPC cheap."""

    outputs: list[EngineOutput]


class Load(msgspec.Struct, tag="load"):
    """TE → gateway: periodic load report; also the TE's heartbeat."""

    report: LoadReport


class Failed(msgspec.Struct, tag="failed"):
    """TE → gateway: the TE could not start or its engine died; it exits after sending this."""

    error: str


ToExecutor = AddRequest | AbortRequest | Shutdown
FromExecutor = Ready | Outputs | Load | Failed

encode = msgspec.msgpack.Encoder().encode
decode_to_executor = msgspec.msgpack.Decoder(ToExecutor).decode
decode_from_executor = msgspec.msgpack.Decoder(FromExecutor).decode
