"""The llama.cpp backend: continuous batching of many sequences over one llama.cpp context, at llama.cpp's speed.

llama.cpp runs the forward pass (a GGUF file as it is, any quantisation, its own CPU kernels); everything the
platform promises about a request stays ours and is shared with the transformers backend: sampling with
per-request seeds that reproduce whatever else shares the batch (`headwater.engine.sampling`), raw logprobs and
top logprobs, penalties, logit bias and grammars (`headwater.engine.controls`), aborts, and load reports.

One generation thread owns the context. Each step it decodes the last sampled token of every decoding sequence, then
chunks of waiting prompts up to the token budget (chunked prefill), in as few `llama_decode` calls as exactness
allows (`headwater.engine.llamacpp_plan` says how llama.cpp micro-batches them), and samples the rows whose logits
it asked for.

The KV cache is split into one stream per sequence by default (`exact`): a sequence's attention then never spans
another's cells, which is what keeps its logits, and so its greedy or seeded tokens, the same whatever else shares
the batch (with llama.cpp's unified cache they drift by ~0.02 in logprob and greedy outputs diverge). Each stream
holds the cache's cells divided by `max_sequences`. With `exact=False` all sequences share one unified cache, which
fits longer requests in the same memory. Either way a request is admitted only when its prompt plus its
`max_tokens` fit the cells not yet promised, so a decode never runs out of room.

A new request takes the free stream holding the longest prefix of its prompt and starts from the longest prefix any
stream holds, its tenant's own (a finished sequence's stream keeps its prompt until its id is reused), as llama.cpp's
own server reuses a slot's last prompt (`headwater.engine.llamacpp_streams`); the streams' contents are reported as
cache events, as the transformers engine's prefix cache is (`headwater.engine.stream_prefixes`).
"""

from __future__ import annotations

import ctypes
import dataclasses
import logging
import operator
import queue
import threading
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from headwater.engine.controls import NO_SLOT, ControlTable, RequestControls
from headwater.engine.grammar import MatcherFactory
from headwater.engine.llamacpp_plan import PlannedToken, RunningSequence, fewest_prompt_tokens, plan_step
from headwater.engine.llamacpp_streams import Streams
from headwater.engine.prefix_cache import BlockChanges
from headwater.engine.protocol import (
    CacheEvents,
    EngineConfig,
    EngineInfo,
    EngineOutput,
    EngineRequest,
    FinishReason,
    KVCacheType,
    LoadReport,
)
from headwater.engine.sampling import NO_SEED, SamplingBatch, sample_next_tokens, seed_key
from headwater.engine.stream_prefixes import held_blocks
from headwater.errors import HeadwaterError, InvalidRequestError, ModelLoadError

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

logger = logging.getLogger(__name__)

KV_CACHE_TYPES: dict[KVCacheType, int] = {"f16": 1, "q8_0": 8}  # GGML_TYPE_F16, GGML_TYPE_Q8_0
"""ggml's type id of each `KVCacheType`, how the KV cache stores keys and values: `q8_0` (our default, as llama.cpp's
`-fa on -ctk q8_0 -ctv q8_0`), with flash attention on; or `f16`, llama.cpp's default, with flash attention off.

Either way a token's logits do not depend on what shares its step nor on how its prompt was cut into chunks.
llama.cpp's CPU flash attention computes a query row by one of three paths, chosen by the shape of the micro-batch
when the cache is f16 (or f32): tiled when a stream has 64 or more query rows in it, one row at a time below that,
and split over the KV cells for a lone token attending over 512 cells or more
(`ggml_compute_forward_flash_attn_ext_f16`, llama.cpp as vendored by llama-cpp-python 0.3.36); the paths round
differently (measured: up to 0.9 in a logit). So with an f16 cache flash attention stays off: a matrix product,
softmax, a matrix product compute every row alike. Over a q8_0 cache only the one-row path exists, so every row is
computed alike with flash attention on (tested).

Measured with smollm2-135m on 2 cores (AVX-512), q8_0 against f16: a decoding token 11-13 % faster over short
contexts (9.9 against 11.2 ms alone, 39.7 against 45.1 ms a step of 8, 134.8 against 151.0 of 32), 3.5 % slower at
1000 tokens of context; a 1000-token prompt 27 % slower to compute (the one-row path is no matrix product); half the
KV memory; logprobs ~0.03 apart from the f16 cache's (mean over greedy tokens; f16 is llama.cpp's reference). Over a
q8_0 cache a sampled token decoded alone leaves the KV a prompt chunk would, so replies are reused too
(`RunningSequence.held`)."""


def llama_library() -> Any:
    """The `llama_cpp` binding, or an error that says how to get it."""
    try:
        import llama_cpp
    except ImportError:
        raise ModelLoadError(
            "the llamacpp engine needs llama-cpp-python: run `make llamacpp` (builds it from its PyPI source "
            "package for this CPU) or `pip install llama-cpp-python`"
        ) from None
    return llama_cpp


class LlamaCppEngine:
    """A continuous-batching `Engine` over a GGUF file."""

    def __init__(
        self,
        gguf: Path,
        eos_token_ids: list[int] | None,
        config: EngineConfig | None = None,
        tokenizer: Callable[[], PreTrainedTokenizerBase] | None = None,
        max_sequences: int = 64,
        threads: int | None = None,
        repack: bool = False,
        exact: bool = True,
        kv_type: KVCacheType = "q8_0",
    ) -> None:
        """`eos_token_ids` None: the GGUF's own end-of-sequence token (llama.cpp's vocabulary reads it at `start`).
        `tokenizer` loads the model's tokenizer; it is called only when a request first asks for a grammar.
        `repack` lets llama.cpp re-lay weights for its extra CPU kernels (its "extra buffer types": AMX, and
        interleaved Q4_0/Q8_0). Off by default: a `-march=native` build on a CPU that reports AMX crashes in those
        kernels when the host (a VM) does not grant AMX tile state, as on our CI machines. `kv_type`: see
        `KV_CACHE_TYPES`."""
        self.gguf = Path(gguf)
        self.eos_token_ids = list(eos_token_ids or [])
        self._eos_from_gguf = eos_token_ids is None
        self.config = config or EngineConfig()
        self.max_sequences = max_sequences
        self.threads = threads or max(1, torch.get_num_threads())
        self.repack = repack
        self.exact = exact
        if kv_type not in KV_CACHE_TYPES:
            raise ModelLoadError(f"kv_type {kv_type!r} is not one of {', '.join(KV_CACHE_TYPES)}")
        self.kv_type = kv_type
        self.flash_attention = kv_type != "f16"
        """Over a q8_0 cache llama.cpp's flash attention computes every row alike (`KV_CACHE_TYPES`): on, sampled
        tokens' KV is reused like a prompt's (`RunningSequence.held`), and a prompt may end in a one-token chunk."""
        self._tokenizer = tokenizer
        self._controls = ControlTable(self.eos_token_ids)
        self._inbox: deque[EngineRequest] = deque()
        self._aborts: set[str] = set()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._ready: queue.Queue[EngineOutput] = queue.Queue()
        self._running: dict[str, RunningSequence] = {}
        self._streams = Streams(max_sequences, exact, fewest_prompt_tokens(self.flash_attention))
        self._blocks = BlockChanges(self.config.kv_block_size)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._fatal: str | None = None
        self._lib: Any = None
        self._ctx: Any = None
        self._model: Any = None
        self._batch: Any = None
        self._logits_address: int | None = None
        self._logits_view = torch.empty(0)
        self._last_rows: tuple[list[RunningSequence], SamplingBatch] | None = None
        """The last step's sampled sequences and their settings, reused while the same rows are sampled."""
        self._matchers: MatcherFactory | None = None
        self.vocab_size = 0
        self.parameters = 0

    @property
    def cells(self) -> int:
        """KV cells of the whole cache (tokens across all sequences)."""
        return self.config.kv_blocks * self.config.kv_block_size

    @property
    def max_request_tokens(self) -> int:
        """The longest request (prompt + max_tokens): one stream's cells when exact, else the whole cache."""
        return self.config.llamacpp_request_room(self.max_sequences, self.exact)

    def start(self) -> None:
        """Load the GGUF, create the context and start the generation thread."""
        lib = llama_library()
        if not self.gguf.is_file():
            raise ModelLoadError(f"no GGUF file at {self.gguf}")
        from llama_cpp._logger import set_verbose

        set_verbose(False)  # llama.cpp's load and graph logs go to stderr line by line otherwise; errors stay
        lib.llama_backend_init()
        model_params = lib.llama_model_default_params()
        model_params.use_extra_bufts = self.repack
        model = lib.llama_model_load_from_file(str(self.gguf).encode(), model_params)
        if not model:
            raise ModelLoadError(f"llama.cpp could not load {self.gguf} (not a GGUF file, or an unknown architecture)")
        params = lib.llama_context_default_params()
        params.n_ctx = self.cells
        params.n_batch = params.n_ubatch = self.config.max_batch_tokens
        params.n_seq_max = self.max_sequences
        params.n_threads = params.n_threads_batch = self.threads
        params.kv_unified = not self.exact
        params.type_k = params.type_v = KV_CACHE_TYPES[self.kv_type]
        flash = lib.LLAMA_FLASH_ATTN_TYPE_ENABLED if self.flash_attention else lib.LLAMA_FLASH_ATTN_TYPE_DISABLED
        params.flash_attn_type = flash
        params.no_perf = True
        context = lib.llama_init_from_model(model, params)
        if not context:
            lib.llama_model_free(model)
            raise ModelLoadError(f"llama.cpp could not create a context of {self.cells} cells for {self.gguf}")
        self._lib, self._model, self._ctx = lib, model, context
        self._streams.attach(lib, context)
        vocab = lib.llama_model_get_vocab(model)
        self.vocab_size = lib.llama_vocab_n_tokens(vocab)
        if self._eos_from_gguf:
            self.eos_token_ids = self._controls.eos_token_ids = [lib.llama_vocab_eos(vocab)]
        self.parameters = int(lib.llama_model_n_params(model))
        self._batch = lib.llama_batch_init(self.config.max_batch_tokens, 0, 1)
        self._matchers = MatcherFactory(self._tokenizer, self.vocab_size) if self._tokenizer is not None else None
        self._thread = threading.Thread(target=self._loop, name="llamacpp-engine", daemon=True)
        self._thread.start()

    def info(self) -> EngineInfo:
        return EngineInfo(self.parameters, "cpu", float(self.threads), self.kv_type)

    # The Engine protocol -------------------------------------------------------------------------------------

    def add_request(self, request: EngineRequest) -> None:
        reserved = len(request.prompt_ids) + request.params.max_tokens
        if reserved > self.max_request_tokens:
            too_big = f"prompt + max_tokens ({reserved}) exceed what one request may hold ({self.max_request_tokens})"
            self._ready.put(EngineOutput(request.request_id, [], [], "error", too_big))
            return
        with self._lock:
            self._inbox.append(request)
        self._wake.set()

    def abort(self, request_id: str) -> None:
        with self._lock:
            self._aborts.add(request_id)
        self._wake.set()

    def unpin(self, prompt_ids: list[int], cache_salt: str | None) -> None:
        """Nothing to release: this engine pins no KV."""

    def get_outputs(self, timeout: float) -> list[EngineOutput]:
        outputs: list[EngineOutput] = []
        try:
            outputs.append(self._ready.get(timeout=timeout))
        except queue.Empty:
            return outputs
        while True:
            try:
                outputs.append(self._ready.get_nowait())
            except queue.Empty:
                return outputs

    def load(self) -> LoadReport:
        with self._lock:
            running = list(self._running.values())
            waiting = len(self._inbox)
        block = self.config.kv_block_size
        used = sum(-(-(s.fed + len(s.generated)) // block) for s in running)
        cached = sum(len(held.tokens) // block for held in list(self._streams.kept.values()))
        return LoadReport(len(running), waiting, used, self.config.kv_blocks, cached)

    def cache_events(self) -> CacheEvents:
        """The full blocks every stream holds, running or kept, against the previous report."""
        holders = [s.held() for s in list(self._running.values())] + list(self._streams.kept.values())
        return self._blocks.events(held_blocks(holders, self.config.kv_block_size))

    def is_alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive() and self._fatal is None

    def shutdown(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        lib = self._lib
        if lib is not None:
            lib.llama_batch_free(self._batch)
            lib.llama_free(self._ctx)
            lib.llama_model_free(self._model)
            self._lib = None

    # The generation thread -----------------------------------------------------------------------------------

    def _loop(self) -> None:
        try:
            while not self._stop.is_set():
                self._handle_aborts()
                self._admit()
                if not self._running:
                    self._wake.wait(timeout=0.05)
                    self._wake.clear()
                    continue
                self._step()
        except Exception as error:  # the engine is dead: every request gets the reason, the TE reports it
            logger.exception("the llama.cpp generation loop failed")
            self._fatal = f"{type(error).__name__}: {error}"
            for sequence in list(self._running.values()):
                self._finish(sequence, "error", self._fatal)

    def _handle_aborts(self) -> None:
        with self._lock:
            aborts, self._aborts = self._aborts, set()
            if aborts:
                self._inbox = deque(r for r in self._inbox if r.request_id not in aborts)
        for request_id in aborts:
            sequence = self._running.get(request_id)
            if sequence is not None:
                self._finish(sequence, "abort")
            else:
                self._ready.put(EngineOutput(request_id, [], [], finish_reason="abort"))

    def _admit(self) -> None:
        """Start waiting requests, first come first served, while a sequence id and their KV cells are free."""
        promised = sum(sequence.reserved for sequence in self._running.values())
        while self._streams.free:
            with self._lock:
                if not self._inbox:
                    return
                request = self._inbox[0]
                reserved = len(request.prompt_ids) + request.params.max_tokens
                if promised + reserved > self.cells:
                    return
                self._inbox.popleft()
            try:
                controls = RequestControls.from_params(request.params, self._matchers)
            except InvalidRequestError as error:
                self._ready.put(EngineOutput(request.request_id, [], [], "error", str(error)))
                continue
            slot = self._controls.add(controls) if controls is not None else NO_SLOT
            eos = frozenset({*self.eos_token_ids, *request.stop_token_ids})
            sequence = RunningSequence(request, self._streams.take(request), eos, slot, rows_alike=self.flash_attention)
            held = [(s.seq_id, s.held()) for s in self._running.values()]
            sequence.fed = sequence.cached = self._streams.start_from_held(sequence.seq_id, request, held)
            self._running[request.request_id] = sequence
            promised += reserved

    def _step(self) -> None:
        """One engine step: the planned `llama_decode` calls, then one sampling pass over every row they produced."""
        self._close_id_gaps()
        calls = self._plan()
        sequences: list[RunningSequence] = []
        logits: list[torch.Tensor] = []
        for number, tokens in enumerate(calls):
            rows = self._fill_batch(tokens)
            status = self._lib.llama_decode(self._ctx, self._batch)
            if status != 0:
                # cells are promised before admission, so a full cache here means llama.cpp itself failed
                raise HeadwaterError(f"llama_decode returned {status}")
            if rows:
                view = self._logits(len(rows))  # llama.cpp's buffer: the next decode overwrites it
                logits.append(view if number == len(calls) - 1 else view.clone())
                sequences += rows
        if sequences:
            self._sample(sequences, logits[0] if len(logits) == 1 else torch.cat(logits))

    def _close_id_gaps(self) -> None:
        """Move decoding sequences down into free ids below them, so the decode call stays one pass over the weights
        (`Streams.close_gaps`)."""
        self._streams.close_gaps(self._running.values())

    def _plan(self) -> list[list[PlannedToken]]:
        """The step's `llama_decode` calls (`headwater.engine.llamacpp_plan.plan_step`)."""
        return plan_step(self._running.values(), self.config.max_batch_tokens, self.exact, self.flash_attention)

    def _fill_batch(self, tokens: list[PlannedToken]) -> list[RunningSequence]:
        """Write one call's tokens into the `llama_batch`; returns the sequences of its logits rows, in order."""
        batch, rows = self._batch, []
        for index, token in enumerate(tokens):
            batch.token[index] = token.token
            batch.pos[index] = token.position
            batch.n_seq_id[index] = 1
            batch.seq_id[index][0] = token.sequence.seq_id
            batch.logits[index] = token.wants_logits
            if token.wants_logits:
                rows.append(token.sequence)
        batch.n_tokens = len(tokens)
        return rows

    def _sample(self, sequences: list[RunningSequence], logits: torch.Tensor) -> None:
        batch = _sampling_batch(sequences, self._last_rows)
        self._last_rows = (sequences, batch)
        adjusted = self._controls.apply(logits, batch.slot)
        tokens, logprobs = sample_next_tokens(logits, batch, adjusted)
        self._controls.record(logits, batch.slot, tokens)
        for sequence, token, logprob in zip(sequences, tokens.tolist(), logprobs.tolist(), strict=True):
            sequence.generated.append(token)
            if token in sequence.eos_ids:
                self._finish(sequence, "stop", logprob=logprob)
            elif len(sequence.generated) >= sequence.request.params.max_tokens:
                self._finish(sequence, "length", logprob=logprob)
            else:
                self._emit(sequence, logprob)

    def _logits(self, outputs: int) -> torch.Tensor:
        """The step's logits [outputs, vocab], one row per batch token that asked for them, in batch order: a view
        of llama.cpp's own buffer (valid until the next decode), not a copy per row. The buffer stays where it is
        until llama.cpp grows it, so the view is made again only then (making one costs more than a small sample)."""
        address = ctypes.cast(self._lib.llama_get_logits(self._ctx), ctypes.c_void_p).value
        if address is None:
            raise HeadwaterError("llama.cpp returned no logits after a decode that asked for them")
        if address != self._logits_address or outputs > len(self._logits_view):
            floats = (ctypes.c_float * (outputs * self.vocab_size)).from_address(address)
            self._logits_view = torch.from_numpy(np.ctypeslib.as_array(floats).reshape(outputs, self.vocab_size))
            self._logits_address = address
        return self._logits_view if outputs == len(self._logits_view) else self._logits_view[:outputs]

    def _emit(self, sequence: RunningSequence, logprob: float) -> None:
        controls = self._controls.get(sequence.slot) if sequence.slot != NO_SLOT else None
        if controls is not None and controls.error:
            self._finish(sequence, "error", controls.error, logprob)
            return
        token = sequence.generated[-1]
        top = controls.top[-1:] if controls is not None else []
        cached = sequence.cached if sequence.emitted == 0 else 0
        sequence.emitted += 1
        self._ready.put(
            EngineOutput(sequence.request.request_id, [token], [logprob], top_logprobs=top, cached_tokens=cached)
        )

    def _finish(
        self, sequence: RunningSequence, reason: FinishReason, error: str | None = None, logprob: float | None = None
    ) -> None:
        """The request's last output (its last token, if one was just sampled), then its cells and id are freed."""
        controls = self._controls.pop(sequence.slot) if sequence.slot != NO_SLOT else None
        new = sequence.generated[sequence.emitted :] if logprob is not None else []
        logprobs = [logprob] if new and logprob is not None else []
        top = controls.top[-len(new) :] if controls is not None and new else []
        if controls is not None and controls.error and reason != "abort":
            reason, error = "error", controls.error
        cached = sequence.cached if sequence.emitted == 0 else 0
        self._ready.put(EngineOutput(sequence.request.request_id, new, logprobs, reason, error, top, cached))
        self._running.pop(sequence.request.request_id, None)
        self._streams.release(sequence.seq_id, sequence.held())


def _sampling_batch(
    sequences: list[RunningSequence], last: tuple[list[RunningSequence], SamplingBatch] | None
) -> SamplingBatch:
    """The rows' sampling settings in the shape `sample_next_tokens` takes (as the transformers backend builds).
    `last` (the previous step's rows and their batch) is reused when it has the same sequences in the same order:
    only seeded rows' keys change from step to step, and making five tensors costs as much as sampling a row."""
    params = [sequence.request.params for sequence in sequences]
    seeded = any(p.seed is not None for p in params)
    keys = [
        seed_key(p.seed, len(s.request.prompt_ids) + len(s.generated)) if p.seed is not None else NO_SEED
        for p, s in zip(params, sequences, strict=True)
    ]
    if last is not None and len(last[0]) == len(sequences) and all(map(operator.is_, last[0], sequences)):
        return dataclasses.replace(last[1], seed_key=torch.tensor(keys)) if seeded else last[1]
    return SamplingBatch(
        temperature=torch.tensor([p.temperature for p in params], dtype=torch.float32),
        top_p=torch.tensor([p.top_p for p in params], dtype=torch.float32),
        top_k=torch.tensor([p.top_k for p in params], dtype=torch.int32),
        seed_key=torch.tensor(keys, dtype=torch.int64),
        slot=torch.tensor([s.slot for s in sequences], dtype=torch.int32),
    )
