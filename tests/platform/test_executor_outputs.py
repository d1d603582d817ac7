"""The gateway's reading of a TE's messages: everything waiting is handled, in order, and one message that cannot
be decoded is logged without stopping the reading (later outputs still reach their requests)."""

from __future__ import annotations

import asyncio
import logging

import zmq

from headwater.engine import ipc
from headwater.engine.protocol import EngineOutput
from headwater.platform.executors.local import LocalTaskExecutor


async def _read_through(executor: LocalTaskExecutor, frames: list[bytes], expected: int) -> list[EngineOutput]:
    pull = zmq.Socket(executor._context, zmq.PULL)
    pull.bind("inproc://outputs")
    push = zmq.Socket(executor._context, zmq.PUSH)
    push.connect("inproc://outputs")
    queue: asyncio.Queue = asyncio.Queue()
    executor._queues["r"] = queue
    for frame in frames:  # all waiting before the reader is registered: one signal for several messages
        push.send(frame)
    loop = asyncio.get_running_loop()
    loop.add_reader(pull.FD, executor._drain, pull)
    try:
        return [await asyncio.wait_for(queue.get(), 5) for _ in range(expected)]
    finally:
        loop.remove_reader(pull.FD)
        push.close(linger=0)
        pull.close(linger=0)
        await executor.stop()


def test_waiting_messages_are_all_read_and_a_bad_one_is_logged_and_skipped(caplog):
    executor = LocalTaskExecutor(name="te-under-test")
    outputs = [EngineOutput("r", [token], [-0.5]) for token in (11, 12, 13)]
    frames = [ipc.encode(ipc.Outputs([outputs[0]])), b"not msgpack", ipc.encode(ipc.Outputs(outputs[1:]))]
    with caplog.at_level(logging.ERROR):
        received = asyncio.run(_read_through(executor, frames, expected=3))
    assert [output.token_ids for output in received] == [[11], [12], [13]]
    assert "te-under-test sent a message that could not be handled" in caplog.text
