"""Messages between the gateway and a task executor (TE), sent as MessagePack over ZeroMQ sockets.

The gateway binds two sockets per TE incarnation (requests out, outputs in) on Unix-domain (ipc://) paths; the TE
connects to both. Every message is one tagged msgspec Struct, so both sides decode into types, not dicts.

A TE may start with no model (pre-warmed: imports and device set-up done): it says `Pooled` and waits for a
`Bind`; `Unbind` sends it back to that state.
"""

from __future__ import annotations

import msgspec

from headwater.engine.protocol import (
    CacheEvents,
    EngineBackend,
    EngineConfig,
    EngineInfo,
    EngineOutput,
    EngineRequest,
    KVCacheType,
    LoadReport,
)


class ModelSpec(msgspec.Struct, frozen=True):
    """Which model a TE serves and how its engine is sized."""

    model: str
    data_dir: str = ".headwater"
    dtype: str = "auto"
    device: str = "auto"
    engine: EngineConfig = EngineConfig()
    shared_weights: str | None = None
    """Per-model folder (under /dev/shm) through which this host's TEs of the model share one copy of its
    weights (see headwater.engine.weights); None: each TE loads its own."""
    backend: EngineBackend = "transformers"
    """The engine the TE hosts; with `llamacpp`, `model` is the GGUF file."""
    max_sequences: int = 64
    """Sequences the engine generates at once (llama.cpp sizes its KV streams by it)."""
    exact: bool = True
    """llamacpp: one KV stream per sequence (batch-invariant outputs) rather than llama.cpp's unified cache."""
    kv_type: KVCacheType = "q8_0"
    """llamacpp: how the KV cache stores keys and values (`headwater.engine.llamacpp_engine.KV_CACHE_TYPES`)."""


class Bind(msgspec.Struct, tag="bind"):
    """Gateway → pooled TE: load this model and start an engine for it."""

    spec: ModelSpec


class Unbind(msgspec.Struct, tag="unbind"):
    """Gateway → bound TE: stop the engine, free the model, go back to the pool."""


class AddRequest(msgspec.Struct, tag="add"):
    """Gateway → TE: start generating."""

    request: EngineRequest


class AbortRequest(msgspec.Struct, tag="abort"):
    """Gateway → TE: stop a request (client gone, stop string matched)."""

    request_id: str


class Unpin(msgspec.Struct, tag="unpin"):
    """Gateway → TE: release the pinned KV of this prompt and salt now (its cached context was deleted)."""

    prompt_ids: list[int]
    cache_salt: str | None = None


class Shutdown(msgspec.Struct, tag="shutdown"):
    """Gateway → TE: finish and exit."""


class Pooled(msgspec.Struct, tag="pooled"):
    """TE → gateway: warm and model-free, waiting for a `Bind` (also the heartbeat of a pooled TE)."""

    pid: int
    start_seconds: float = 0.0


class Ready(msgspec.Struct, tag="ready"):
    """TE → gateway: the model is loaded and the engine accepts requests. `phases` are the seconds of each
    scale-up phase spent inside the TE (`weight_load`, `engine_start`, `warmup`)."""

    pid: int
    load_seconds: float
    info: EngineInfo = EngineInfo()
    phases: dict[str, float] = {}
    weights_source: str = "disk"
    """Where the weights came from: `disk`, `page_cache` or `peer` (a copy shared by another TE)."""


class Outputs(msgspec.Struct, tag="outputs"):
    """TE → gateway: token deltas of one engine step, batched to keep IPC cheap."""

    outputs: list[EngineOutput]


class Load(msgspec.Struct, tag="load"):
    """TE → gateway: periodic load report, with the KV blocks stored and evicted since the last; also the TE's
    heartbeat."""

    report: LoadReport
    cache: CacheEvents | None = None


class Failed(msgspec.Struct, tag="failed"):
    """TE → gateway: the TE could not start or its engine died; it exits after sending this."""

    error: str


ToExecutor = AddRequest | AbortRequest | Unpin | Bind | Unbind | Shutdown
FromExecutor = Pooled | Ready | Outputs | Load | Failed

encode = msgspec.msgpack.Encoder().encode
decode_to_executor = msgspec.msgpack.Decoder(ToExecutor).decode
decode_from_executor = msgspec.msgpack.Decoder(FromExecutor).decode
