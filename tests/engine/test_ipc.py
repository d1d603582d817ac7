"""IPC messages survive MessagePack both ways, as types."""

from __future__ import annotations

import pytest

from headwater.engine import ipc
from headwater.engine.protocol import EngineInfo, EngineOutput, EngineRequest, LoadReport, SamplingParams


@pytest.mark.parametrize(
    "message",
    [
        ipc.AddRequest(EngineRequest("r1", [1, 2, 3], SamplingParams(5, 0.7, 0.9, 4, seed=3), [7])),
        ipc.AbortRequest("r1"),
        ipc.Shutdown(),
    ],
)
def test_gateway_to_executor_round_trip(message):
    assert ipc.decode_to_executor(ipc.encode(message)) == message


@pytest.mark.parametrize(
    "message",
    [
        ipc.Ready(pid=12, load_seconds=1.5, info=EngineInfo(135_000_000, "gpu", 8.0)),
        ipc.Outputs([EngineOutput("r1", [4, 5], [-0.5, -1.0]), EngineOutput("r2", [], [], "abort")]),
        ipc.Load(LoadReport(2, 1, 10, 64)),
        ipc.Failed("boom"),
    ],
)
def test_executor_to_gateway_round_trip(message):
    assert ipc.decode_from_executor(ipc.encode(message)) == message


def test_a_message_of_the_wrong_direction_is_rejected():
    import msgspec

    with pytest.raises(msgspec.ValidationError):
        ipc.decode_to_executor(ipc.encode(ipc.Ready(pid=1, load_seconds=0)))
