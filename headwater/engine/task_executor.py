"""The task-executor process: hosts one Engine for one model and talks to the gateway over ZeroMQ IPC.

Run as `python -m headwater.engine.task_executor SPEC_JSON`. One thread receives requests and feeds the engine;
another sends the engine's outputs and a load report every `LOAD_PERIOD_S` (the gateway's liveness signal). The
process exits when told to, when its engine dies (after reporting why), or when its parent gateway is gone.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time

import msgspec
import zmq

from headwater.engine import ipc
from headwater.engine.protocol import Engine, EngineConfig, EngineInfo

LOAD_PERIOD_S = 0.25
logger = logging.getLogger("headwater.task_executor")


class ExecutorSpec(msgspec.Struct, frozen=True):
    """Everything a TE needs to start: which model, how to size its engine, where the gateway listens."""

    model: str
    requests_address: str
    outputs_address: str
    data_dir: str = ".headwater"
    dtype: str = "auto"
    device: str = "auto"
    engine: EngineConfig = EngineConfig()


def engine_info(model: object) -> EngineInfo:
    """Parameters and devices of a loaded model (GPU memory counted in the footprint's 10 GB vGPU slices)."""
    import torch

    parameters = sum(p.numel() for p in model.parameters())  # type: ignore[attr-defined]
    device = next(model.parameters()).device  # type: ignore[attr-defined]
    if device.type == "cuda":
        memory_gb = torch.cuda.get_device_properties(device).total_memory / 1e9
        return EngineInfo(parameters, "gpu", max(1.0, memory_gb / 10.0))
    return EngineInfo(parameters, "cpu", float(torch.get_num_threads()))


def build_engine(spec: ExecutorSpec) -> tuple[Engine, EngineInfo]:
    """Load the model and start a transformers continuous-batching engine for it."""
    from headwater.engine.transformers_engine import TransformersEngine
    from headwater.models.loading import load_model, load_tokenizer

    model = load_model(spec.model, dtype=spec.dtype, device=spec.device, data_dir=spec.data_dir)
    tokenizer = load_tokenizer(spec.model, data_dir=spec.data_dir)
    eos = {tokenizer.eos_token_id, *_as_list(model.generation_config.eos_token_id)} - {None}
    engine = TransformersEngine(model, sorted(eos), spec.engine, tokenizer)
    engine.start()
    return engine, engine_info(model)


def _as_list(value: int | list[int] | None) -> list[int]:
    if value is None:
        return []
    return [value] if isinstance(value, int) else list(value)


def _send_outputs(engine: Engine, socket: zmq.Socket, stop: threading.Event) -> None:
    next_report = 0.0
    while not stop.is_set():
        outputs = engine.get_outputs(timeout=0.02)
        if outputs:
            socket.send(ipc.encode(ipc.Outputs(outputs)))
        now = time.monotonic()
        if now >= next_report:
            socket.send(ipc.encode(ipc.Load(engine.load())))
            next_report = now + LOAD_PERIOD_S
        if not engine.is_alive():
            socket.send(ipc.encode(ipc.Failed("the engine's generation loop stopped")))
            stop.set()


def _receive_requests(engine: Engine, socket: zmq.Socket, stop: threading.Event, parent: int) -> None:
    while not stop.is_set():
        if os.getppid() != parent:
            logger.error("gateway process is gone; exiting")
            break
        if not socket.poll(100):
            continue
        message = ipc.decode_to_executor(socket.recv())
        if isinstance(message, ipc.AddRequest):
            engine.add_request(message.request)
        elif isinstance(message, ipc.AbortRequest):
            engine.abort(message.request_id)
        else:
            break
    stop.set()


def serve(spec: ExecutorSpec) -> int:
    """Run a TE until shutdown; returns the process exit code."""
    parent = os.getppid()
    context = zmq.Context()
    requests = context.socket(zmq.PULL)
    requests.connect(spec.requests_address)
    outputs = context.socket(zmq.PUSH)
    outputs.setsockopt(zmq.LINGER, 1000)
    outputs.connect(spec.outputs_address)
    started = time.monotonic()
    try:
        engine, info = build_engine(spec)
    except Exception as error:  # any load failure is reported to the gateway, which shows it to the user
        outputs.send(ipc.encode(ipc.Failed(f"{type(error).__name__}: {error}")))
        return 1
    outputs.send(ipc.encode(ipc.Ready(pid=os.getpid(), load_seconds=time.monotonic() - started, info=info)))
    stop = threading.Event()
    sender = threading.Thread(target=_send_outputs, args=(engine, outputs, stop), daemon=True)
    sender.start()
    _receive_requests(engine, requests, stop, parent)
    sender.join(timeout=5)
    engine.shutdown()
    context.destroy(linger=0)
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s te %(levelname)s %(message)s")
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()
    return serve(msgspec.json.decode(argv[0], type=ExecutorSpec))


if __name__ == "__main__":
    sys.exit(main())
