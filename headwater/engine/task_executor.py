"""The task-executor process: hosts one Engine for one model and talks to the gateway over ZeroMQ IPC.

Run as `python -m headwater.engine.task_executor SPEC_JSON`. The process first does what every model needs
(imports, torch threads, device set-up) and, if its spec names no model, reports `Pooled` and waits for a `Bind`:
that is DeepFlow's pre-warmed, model-agnostic TE, which turns a scale-from-zero into a weight load. Once bound,
one thread receives requests and feeds the engine; another sends the engine's outputs and a load report every
`LOAD_PERIOD_S` (the gateway's liveness signal). `Unbind` frees the model and returns the process to the pooled
state. The process exits when told to, when its engine dies (after reporting why), or when its gateway is gone.
"""

from __future__ import annotations

import gc
import logging
import os
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import msgspec
import zmq

from headwater.engine import ipc
from headwater.engine.protocol import Engine, EngineInfo, EngineRequest, SamplingParams
from headwater.engine.weights import WeightKind, WeightSource, weight_source

if TYPE_CHECKING:  # torch is imported inside the functions that use it
    import torch

LOAD_PERIOD_S = 0.25
CACHE_EVENTS_PERIOD_S = 0.05
POOLED_HEARTBEAT_S = 1.0
logger = logging.getLogger("headwater.task_executor")


class ExecutorSpec(msgspec.Struct, frozen=True):
    """Where the gateway listens, and the model to bind at once (None: start pooled and wait for a `Bind`)."""

    requests_address: str
    outputs_address: str
    bind: ipc.ModelSpec | None = None


def engine_info(model: torch.nn.Module) -> EngineInfo:
    """Parameters and devices of a loaded model (GPU memory counted in the footprint's 10 GB vGPU slices)."""
    import torch

    parameters = sum(p.numel() for p in model.parameters())
    device = next(model.parameters()).device
    if device.type == "cuda":
        memory_gb = torch.cuda.get_device_properties(device).total_memory / 1e9
        return EngineInfo(parameters, "gpu", max(1.0, memory_gb / 10.0))
    return EngineInfo(parameters, "cpu", float(torch.get_num_threads()))


def warm_up_runtime(bind: ipc.ModelSpec | None) -> None:
    """What every model needs, done before any model is known: the heavy imports and the device set-up. A TE
    started for a llama.cpp model skips transformers (about 3 s of imports on a small CPU, on its start-up's
    critical path); a pooled TE, which may be bound to either backend, imports both."""
    import torch

    if bind is None or bind.backend != "llamacpp":
        import transformers  # noqa: F401
        from transformers.utils import logging as transformers_logging

        import headwater.engine.transformers_engine
        import headwater.models.loading

        transformers_logging.disable_progress_bar()
    if bind is None or bind.backend == "llamacpp":
        import headwater.engine.llamacpp_engine  # noqa: F401

    if torch.cuda.is_available():
        torch.cuda.init()


def build_engine(
    spec: ipc.ModelSpec, weights: WeightSource | None = None
) -> tuple[Engine, EngineInfo, dict[str, float], WeightKind]:
    """Load the model, start a transformers continuous-batching engine for it and run one dummy request through
    it; returns the engine, what it runs on, the seconds of each phase and where the weights came from (through
    `weights`, default: the one `weight_source` picks for the spec)."""
    if spec.engine.threads:
        import torch

        torch.set_num_threads(spec.engine.threads)
    if spec.backend == "llamacpp":
        return build_llamacpp_engine(spec)
    from headwater.engine.transformers_engine import TransformersEngine
    from headwater.models.loading import load_tokenizer

    phases: dict[str, float] = {}
    started = time.monotonic()
    loaded = (weights or weight_source(spec)).load(spec)
    model = loaded.model
    tokenizer = load_tokenizer(spec.model, data_dir=spec.data_dir)
    phases["weight_load"] = time.monotonic() - started
    started = time.monotonic()
    eos = {tokenizer.eos_token_id, *_as_list(model.generation_config.eos_token_id)} - {None}
    engine = TransformersEngine(model, sorted(eos), spec.engine, tokenizer)
    engine.start()
    phases["engine_start"] = time.monotonic() - started
    started = time.monotonic()
    _warm_up(engine)
    phases["warmup"] = time.monotonic() - started
    return engine, engine_info(model), phases, loaded.kind


def build_llamacpp_engine(spec: ipc.ModelSpec) -> tuple[Engine, EngineInfo, dict[str, float], WeightKind]:
    """A llama.cpp engine over the GGUF file `spec.model` (memory-mapped: TEs of one file on a host share its pages
    through the page cache), warmed up like the transformers one."""
    from headwater.engine.llamacpp_engine import LlamaCppEngine
    from headwater.models.gguf import gguf_serving_files

    gguf = Path(spec.model)
    started = time.monotonic()
    engine = LlamaCppEngine(
        gguf,
        None,  # the GGUF's own end-of-sequence token
        spec.engine,
        lambda: gguf_serving_files(gguf, spec.data_dir)[0],  # loaded on the first grammar, not on every start
        spec.max_sequences,
        threads=spec.engine.threads or None,
        exact=spec.exact,
        kv_type=spec.kv_type,
    )
    engine.start()
    phases = {"weight_load": time.monotonic() - started, "engine_start": 0.0}
    started = time.monotonic()
    _warm_up(engine)
    phases["warmup"] = time.monotonic() - started
    return engine, engine.info(), phases, "disk"


def _warm_up(engine: Engine, timeout_s: float = 60.0) -> None:
    """One dummy request before the TE is announced, so the first user does not pay for lazy initialisation."""
    engine.add_request(EngineRequest("warmup", [0], SamplingParams(max_tokens=1, temperature=0)))
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if any(output.finish_reason for output in engine.get_outputs(0.5) if output.request_id == "warmup"):
            return


def _as_list(value: int | list[int] | None) -> list[int]:
    if value is None:
        return []
    return [value] if isinstance(value, int) else list(value)


def _send_outputs(engine: Engine, socket: zmq.Socket, stop: threading.Event) -> None:
    """Outputs as they come; the load report with the cache events every `LOAD_PERIOD_S`, and sooner (at most every
    `CACHE_EVENTS_PERIOD_S`) after a step that made outputs, so routers see a new prefix while it is still new."""
    next_report = next_events = 0.0
    while not stop.is_set():
        outputs = engine.get_outputs(timeout=0.02)
        if outputs:
            socket.send(ipc.encode(ipc.Outputs(outputs)))
        now = time.monotonic()
        if now >= next_report or (outputs and now >= next_events):
            socket.send(ipc.encode(ipc.Load(engine.load(), engine.cache_events())))
            next_report, next_events = now + LOAD_PERIOD_S, now + CACHE_EVENTS_PERIOD_S
        if not engine.is_alive():
            socket.send(ipc.encode(ipc.Failed("the engine's generation loop stopped")))
            stop.set()


Outcome = Literal["unbind", "shutdown", "gone", "failed"]


def _receive_requests(engine: Engine, socket: zmq.Socket, stop: threading.Event, parent: int) -> Outcome:
    outcome: Outcome = "failed"
    while not stop.is_set():
        if os.getppid() != parent:
            logger.error("gateway process is gone; exiting")
            outcome = "gone"
            break
        if not socket.poll(100):
            continue
        message = ipc.decode_to_executor(socket.recv())
        if isinstance(message, ipc.AddRequest):
            engine.add_request(message.request)
        elif isinstance(message, ipc.AbortRequest):
            engine.abort(message.request_id)
        elif isinstance(message, ipc.Unpin):
            engine.unpin(message.prompt_ids, message.cache_salt)
        elif isinstance(message, ipc.Unbind):
            outcome = "unbind"
            break
        elif isinstance(message, ipc.Shutdown):
            outcome = "shutdown"
            break
    stop.set()
    return outcome


def _wait_for_bind(requests: zmq.Socket, outputs: zmq.Socket, parent: int, pooled: ipc.Pooled) -> ipc.ModelSpec | None:
    """Pooled: heartbeat until a `Bind` (its model spec) or a `Shutdown` / a lost gateway (None)."""
    outputs.send(ipc.encode(pooled))
    while os.getppid() == parent:
        if not requests.poll(int(POOLED_HEARTBEAT_S * 1000)):
            outputs.send(ipc.encode(pooled))
            continue
        message = ipc.decode_to_executor(requests.recv())
        if isinstance(message, ipc.Bind):
            return message.spec
        if isinstance(message, ipc.Shutdown):
            return None
    return None


def _serve_model(spec: ipc.ModelSpec, requests: zmq.Socket, outputs: zmq.Socket, parent: int) -> Outcome:
    """Load `spec`'s model, serve it until told to unbind or stop; report a load failure and give up."""
    started = time.monotonic()
    weights = weight_source(spec)
    try:
        engine, info, phases, kind = build_engine(spec, weights)
    except Exception as error:  # any load failure is reported to the gateway, which shows it to the user
        outputs.send(ipc.encode(ipc.Failed(f"{type(error).__name__}: {error}")))
        return "failed"
    seconds = time.monotonic() - started
    ready = ipc.Ready(pid=os.getpid(), load_seconds=seconds, info=info, phases=phases, weights_source=kind)
    outputs.send(ipc.encode(ready))
    stop = threading.Event()
    sender = threading.Thread(target=_send_outputs, args=(engine, outputs, stop), daemon=True)
    sender.start()
    outcome = _receive_requests(engine, requests, stop, parent)
    sender.join(timeout=5)
    engine.shutdown()
    weights.release()
    del engine
    gc.collect()
    return outcome


def serve(spec: ExecutorSpec) -> int:
    """Run a TE until shutdown; returns the process exit code."""
    parent = os.getppid()
    started = time.monotonic()
    context = zmq.Context()
    requests = context.socket(zmq.PULL)
    requests.connect(spec.requests_address)
    outputs = context.socket(zmq.PUSH)
    outputs.setsockopt(zmq.LINGER, 1000)
    outputs.connect(spec.outputs_address)
    warm_up_runtime(spec.bind)
    pooled = ipc.Pooled(pid=os.getpid(), start_seconds=time.monotonic() - started)
    model, code = spec.bind, 0
    while True:
        if model is None:
            model = _wait_for_bind(requests, outputs, parent, pooled)
            if model is None:
                break
        outcome = _serve_model(model, requests, outputs, parent)
        model = None
        if outcome != "unbind":
            code = 1 if outcome == "failed" else 0
            break
    context.destroy(linger=1000)
    return code


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s te %(levelname)s %(message)s")
    return serve(msgspec.json.decode(argv[0], type=ExecutorSpec))


if __name__ == "__main__":
    sys.exit(main())
