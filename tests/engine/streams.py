"""Drive an Engine directly in a test: add requests, gather every output until each request has finished."""

from __future__ import annotations

import time
from collections.abc import Sequence

from headwater.engine.protocol import Engine, EngineOutput, EngineRequest


def run_to_end(
    engine: Engine, requests: Sequence[EngineRequest], timeout: float = 60.0
) -> dict[str, list[EngineOutput]]:
    """Each request's outputs in order; fails the test if one has not finished within `timeout` seconds."""
    for request in requests:
        engine.add_request(request)
    return gather_to_end(engine, [request.request_id for request in requests], timeout)


def gather_to_end(engine: Engine, request_ids: Sequence[str], timeout: float = 60.0) -> dict[str, list[EngineOutput]]:
    """The outputs of requests already added, in order, once each has finished (within `timeout` seconds)."""
    outputs: dict[str, list[EngineOutput]] = {request_id: [] for request_id in request_ids}
    deadline = time.monotonic() + timeout
    while sum(bool(o and o[-1].finish_reason) for o in outputs.values()) < len(request_ids):
        assert time.monotonic() < deadline, "the engine did not finish in time"
        for output in engine.get_outputs(0.5):
            outputs[output.request_id].append(output)
    return outputs
