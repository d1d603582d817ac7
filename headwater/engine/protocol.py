"""The engine boundary: the small typed messages an engine takes and gives, and the `Engine` protocol.

The platform talks to engines only through this protocol; the transformers continuous-batching backend is one
implementation, vLLM's async engine will be another. The structs are msgspec Structs so the same objects cross
the task-executor IPC boundary as MessagePack without a second schema.
"""

from __future__ import annotations

from typing import Literal, Protocol

import msgspec

FinishReason = Literal["stop", "length", "abort", "error"]
EngineBackend = Literal["transformers", "llamacpp"]
"""The engines a TE can host: transformers continuous batching (any HF model), llama.cpp (GGUF files)."""
KVCacheType = Literal["f16", "q8_0"]
"""How the llama.cpp engine's KV cache stores keys and values (`headwater.engine.llamacpp_engine.KV_CACHE_TYPES`)."""
ServingMode = Literal["colocated", "prefill", "decode"]
"""What a TE does with a request: all of it, only the prompt (then hands its KV on), or the rest after a hand-off."""
KVTransportName = Literal["shm", "socket"]
"""How KV hand-offs move between TEs (`EngineConfig.kv_transport`)."""


class SamplingParams(msgspec.Struct, frozen=True):
    """How to pick tokens for one sequence. temperature 0 is greedy; seed makes sampling reproducible.

    The penalties and `logit_bias` change the logits before sampling as OpenAI defines them; `grammar` (an
    llguidance grammar, see `headwater.engine.grammar`) masks every token that would leave it; `top_logprobs` asks
    for that many most likely tokens at each step. Reported logprobs stay the model's raw ones (vLLM's default).
    """

    max_tokens: int = 16
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 0
    seed: int | None = None
    presence_penalty: float = 0.0
    frequency_penalty: float = 0.0
    logit_bias: dict[int, float] = {}
    top_logprobs: int = 0
    grammar: str | None = None


class KVHandoff(msgspec.Struct, frozen=True):
    """A prompt's KV, exported by a prefill TE for a decode TE: whole paged-cache blocks named by their salted hash
    chain (`headwater.engine.prefix_cache.block_hashes`), stored where `transport` says (see
    `headwater.engine.kv_transfer`). The decode TE imports them as prefix-cache blocks, so only the prompt's tail
    (under one block) and the first token are computed again."""

    transport: str
    """Which transport holds the blocks (`shm`: a file in shared memory on this host; `socket`: the prefill TE's
    memory, served over TCP)."""
    location: str
    """Where that transport finds them (for `shm`, the file's path; for `socket`, `host:port/id/token`)."""
    block_size: int
    """Tokens per block: the decode TE's cache must use the same."""
    block_hashes: list[int]
    """The blocks' hash chain, first block first."""
    bytes_per_block: int
    """Bytes of one block (every layer's K and V): the decode TE's layout must match or it recomputes."""
    nbytes: int = 0
    """Bytes stored (what the transfer moves)."""


class EngineRequest(msgspec.Struct, frozen=True):
    """One sequence to generate: already tokenised (tokenisation happens off the engine's thread)."""

    request_id: str
    prompt_ids: list[int]
    params: SamplingParams
    stop_token_ids: list[int] = []
    cache_salt: str | None = None
    """Salts the request's KV block hashes (the tenant): blocks are shared only between requests with the same
    salt, so one tenant's cache is never matched or hit by another's (vLLM's `cache_salt`)."""
    pin_s: float = 0.0
    """Keep the prompt's KV blocks unevictable for this many seconds after the request finishes (a cached context's
    TTL); then they are evictable like any prefix."""
    kv_handoff: KVHandoff | None = None
    """A decode TE's request: the prompt's KV a prefill TE computed, imported before the prompt is matched."""


class EngineOutput(msgspec.Struct):
    """Tokens generated since the previous output of the same request; `finish_reason` set on the last one."""

    request_id: str
    token_ids: list[int]
    logprobs: list[float]
    finish_reason: FinishReason | None = None
    error: str | None = None
    top_logprobs: list[list[tuple[int, float]]] = []
    """Per generated token, the `top_logprobs` most likely (token id, raw logprob), most likely first."""
    cached_tokens: int = 0
    """Prompt tokens whose KV was reused from the prefix cache (set on the request's first output)."""
    kv_handoff: KVHandoff | None = None
    """On a prefill TE's final output: where the prompt's KV was put for a decode TE."""
    kv_transfer_s: float = 0.0
    """Seconds this engine spent handing KV over for the request: its export (prefill TE, final output) or its
    import (decode TE, first output)."""


class CacheEvents(msgspec.Struct):
    """KV blocks an engine stored and evicted since its previous report, as vLLM's KV events: each block is named
    by its hash chain (`headwater.engine.prefix_cache.block_hashes`), so a router can track each engine's cache
    contents exactly. `reset` says to forget every block reported before (a new or restarted engine)."""

    block_size: int
    stored: list[int] = []
    evicted: list[int] = []
    reset: bool = False


class LoadReport(msgspec.Struct):
    """What a router needs to place the next request: queue lengths and KV-cache occupancy."""

    running: int = 0
    waiting: int = 0
    kv_blocks_used: int = 0
    """Blocks that live requests hold."""
    kv_blocks_total: int = 0
    kv_blocks_cached: int = 0
    """Blocks no request holds, kept for their prefix (reusable, evicted first under pressure)."""


class EngineConfig(msgspec.Struct, frozen=True):
    """Sizes of an engine's batch and paged KV cache: the one place their defaults are written."""

    max_batch_tokens: int = 512
    """Most tokens one engine step processes."""
    kv_blocks: int = 256
    """Paged KV-cache blocks."""
    kv_block_size: int = 32
    """Tokens per KV-cache block."""
    prefix_sharing: bool = True
    """Share the blocks of a common prompt prefix between requests."""
    mode: ServingMode = "colocated"
    """`prefill`: export each finished request's prompt KV (a `KVHandoff` on its final output); `decode` and
    `colocated` import a request's `kv_handoff` when it has one."""
    kv_dir: str = ""
    """Folder a prefill engine writes its KV hand-offs to (empty: `headwater.engine.kv_transfer.default_kv_dir`)."""
    kv_transport: KVTransportName = "shm"
    """How KV hand-offs move: `shm` (files in /dev/shm: prefill and decode TEs on one host) or `socket` (the prefill
    TE serves them over TCP: TEs on different hosts)."""
    kv_address: str = ""
    """`socket`: HOST[:PORT] a prefill engine serves its hand-offs on (empty: this host's address, a free port)."""
    threads: int = 0
    """CPU threads of the engine's kernels (torch's intra-op threads, llama.cpp's `n_threads`); 0: torch's default,
    one per core. Fewer leave cores to the gateway and other TEs on a shared host."""

    @property
    def max_sequence_tokens(self) -> int:
        """The longest sequence (prompt + completion) the engine can hold: one request must fit the paged cache or
        it can never be scheduled (and the generation loop stalls on it). One block stays free for the decode."""
        return (self.kv_blocks - 1) * self.kv_block_size

    def llamacpp_request_room(self, max_sequences: int, streams: bool) -> int:
        """The longest request (prompt + max_tokens) the llama.cpp engine takes: one KV stream's cells when each
        sequence has its own (`streams`), else the whole unified cache."""
        cells = self.kv_blocks * self.kv_block_size
        return cells // max_sequences if streams else cells


class EngineInfo(msgspec.Struct, frozen=True):
    """What an engine hosts and runs on: for routing, footprint accounting and /health."""

    parameters: int = 0
    device_kind: Literal["cpu", "gpu"] = "cpu"
    device_units: float = 1.0
    """vCPUs on a CPU; 10 GB slices of GPU memory (the footprint bricks' vGPU) on a GPU."""
    kv_cache: KVCacheType | None = None
    """How the KV cache stores keys and values where the engine offers a choice (llamacpp: `f16` or `q8_0`), for
    /health; None otherwise."""


class Engine(Protocol):
    """A continuous-batching generator: requests go in at any time, token deltas come out as they are made."""

    def add_request(self, request: EngineRequest) -> None:
        """Queue a request; its outputs appear in `get_outputs`."""
        ...

    def abort(self, request_id: str) -> None:
        """Stop a request; a final output with finish_reason `abort` follows."""
        ...

    def unpin(self, prompt_ids: list[int], cache_salt: str | None) -> None:
        """Make the KV a finished request pinned (`EngineRequest.pin_s`) for this prompt and salt evictable now."""
        ...

    def get_outputs(self, timeout: float) -> list[EngineOutput]:
        """Outputs ready now, waiting at most `timeout` seconds for the first one."""
        ...

    def load(self) -> LoadReport:
        """Current load, for routing and metrics."""
        ...

    def cache_events(self) -> CacheEvents:
        """Blocks stored and evicted since the previous call (the first call after start has `reset` set)."""
        ...

    def is_alive(self) -> bool:
        """False once the engine can no longer make progress (its loop died)."""
        ...

    def shutdown(self) -> None:
        """Stop generating and release the model's memory."""
        ...
