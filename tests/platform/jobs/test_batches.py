"""The batch runner without a server: a line's concurrency slot is free as soon as its request ends (its row is
written by a group commit off the lines' path, `batch_recorder`), every finished line is kept, and a polled
batch's counts come from one query."""

from __future__ import annotations

import asyncio
import json
import threading
from types import SimpleNamespace

import pytest

from headwater.platform.files import FileStore, LocalFileStorage
from headwater.platform.jobs.batch_recorder import LineRecorder
from headwater.platform.jobs.batches import BatchLineRow, BatchRunner
from headwater.platform.jobs.records import JobStore
from headwater.platform.store import Store

BOUND_S = 60.0
"""A bound, not a measure: without the fix, the lines below would wait for ever."""


class GatedRunner(BatchRunner):
    """Answers every line at once (no model); its store writes wait at `gate`, as a slow commit would."""

    def __init__(self, *args: object) -> None:
        super().__init__(*args)  # type: ignore[arg-type]
        self.gate = threading.Event()
        self.called = 0
        self.writes: list[int] = []

    async def _call(self, tenant: str, url: str, body: dict) -> tuple[int, dict]:
        self.called += 1
        status = 200 if "fail" not in body["messages"][0]["content"] else 400
        return status, {"echo": body["messages"][0]["content"]}

    def _record(self, rows: list[BatchLineRow]) -> None:
        self.gate.wait()
        self.writes.append(len(rows))
        super()._record(rows)


@pytest.fixture
def stores(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'h.db'}")
    yield JobStore(store), FileStore(store, LocalFileStorage(tmp_path / "files"), max_bytes=1 << 20)
    store.engine.dispose()


def test_lines_go_on_while_their_rows_are_written_and_every_row_is_kept(stores):
    jobs, files = stores
    texts = ["a", "b", "fail c", "d", "e", "f"]
    lines = [
        {
            "custom_id": f"id-{i}",
            "method": "POST",
            "url": "/v1/chat/completions",
            "body": {"model": "tiny", "messages": [{"role": "user", "content": text}]},
        }
        for i, text in enumerate(texts)
    ]
    upload = files.create("acme", "b.jsonl", "batch", "\n".join(map(json.dumps, lines)).encode())
    runner = GatedRunner(SimpleNamespace(settings=SimpleNamespace(batch_concurrency=2)), jobs, files)
    batch = runner.create("acme", {"input_file_id": upload.id, "endpoint": "/v1/chat/completions"}, None)

    async def scenario() -> None:
        run = asyncio.ensure_future(runner._run(batch.id))
        async with asyncio.timeout(BOUND_S):
            while runner.called < len(texts):  # 2 slots, yet all 6 lines ran while no row could be written
                await asyncio.sleep(0.01)
        assert not run.done() and runner.counts(batch.id) == (0, 0)  # nothing counts before it is written
        runner.gate.set()
        await asyncio.wait_for(run, BOUND_S)

    asyncio.run(scenario())
    assert jobs.get(batch.id).state == "succeeded"
    assert runner.counts(batch.id) == (5, 1)
    assert sum(runner.writes) == len(texts) and len(runner.writes) < len(texts)  # group commits
    output = files.content("acme", jobs.get(batch.id).files["output"]).decode().splitlines()
    assert [json.loads(line)["custom_id"] for line in output] == ["id-0", "id-1", "id-3", "id-4", "id-5"]


def test_the_recorder_writes_rows_that_came_meanwhile_together_and_flush_waits_for_all():
    gate, written = threading.Event(), []

    def write(rows: list[int]) -> None:
        gate.wait()
        written.append(rows)

    async def scenario() -> None:
        recorder: LineRecorder[int] = LineRecorder(write, group_s=0)
        recorder.add(1)
        await asyncio.sleep(0.05)  # the first write is under way, held at the gate
        for row in (2, 3, 4):
            recorder.add(row)
        flushing = asyncio.ensure_future(recorder.flush())
        await asyncio.sleep(0.05)
        assert not flushing.done()
        gate.set()
        await asyncio.wait_for(flushing, BOUND_S)

    asyncio.run(scenario())
    assert written == [[1], [2, 3, 4]]


def test_rows_ended_close_together_are_written_as_one_group_and_flush_does_not_wait():
    written: list[list[int]] = []

    async def scenario() -> None:
        recorder: LineRecorder[int] = LineRecorder(written.append, group_s=BOUND_S)
        for row in (1, 2, 3):
            recorder.add(row)
        await asyncio.sleep(0.05)
        assert written == []  # still gathering
        await asyncio.wait_for(recorder.flush(), BOUND_S / 2)  # written at once, not after the gathering time

    asyncio.run(scenario())
    assert written == [[1, 2, 3]]


def test_a_failed_write_is_raised_by_flush():
    def write(rows: list[int]) -> None:
        raise OSError("disk full")

    async def scenario() -> None:
        recorder: LineRecorder[int] = LineRecorder(write)
        recorder.add(1)
        with pytest.raises(OSError, match="disk full"):
            await recorder.flush()

    asyncio.run(scenario())
