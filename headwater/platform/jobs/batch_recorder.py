"""Group commits of a running batch's finished lines, off the lines' own path.

A batch runs `HEADWATER_BATCH_CONCURRENCY` lines at a time. Committing each finished line in its own transaction,
before its slot was free, held every slot for one SQLite commit (an fsync) more than the request itself: ≈ 15 ms a
line on a loaded 2-core machine, next to ≈ 80 ms for an 8-token request, so a batch ran at 0.85× the same requests
sent directly (SQLite has one writer: every extra commit also delays the job rows of every request in flight). Here
a line's slot is free as soon as its request has ended, and one writer commits the lines that ended within
`GROUP_S` of each other in one transaction.

A line counts as finished once its row is committed: a platform killed before that runs the line again at its next
start (at most `GROUP_S` worth of lines), as it did when it was killed mid-commit.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Generic, TypeVar

Row = TypeVar("Row")
GROUP_S = 0.25
"""How long the writer gathers finished lines before it commits them (`flush` cuts the wait short)."""


class LineRecorder(Generic[Row]):
    """Collects rows (`add`, on the event loop) and writes them with `write(rows)` in a worker thread, one call per
    group: the rows added within `group_s` of the first, and any added while the previous group was being written."""

    def __init__(self, write: Callable[[list[Row]], None], group_s: float = GROUP_S) -> None:
        self._write = write
        self._group_s = group_s
        self._pending: list[Row] = []
        self._writing: asyncio.Future[None] | None = None
        self._hurry = asyncio.Event()

    def add(self, row: Row) -> None:
        """Queue `row`; starts a write unless one is under way (it takes this row with it when it is done)."""
        self._pending.append(row)
        if self._writing is None or self._writing.done():
            self._writing = asyncio.ensure_future(self._drain_pending())

    async def _drain_pending(self) -> None:
        while self._pending:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._hurry.wait(), self._group_s)
            rows, self._pending = self._pending, []
            await asyncio.to_thread(self._write, rows)

    async def flush(self) -> None:
        """Wait until every row added so far is written (shielded: a batch interrupted by a stopping gateway still
        keeps the lines it finished); a failed write raises here. From now on rows are written without waiting."""
        self._hurry.set()
        while self._writing is not None:
            writing = self._writing
            await asyncio.shield(writing)
            if writing is self._writing:  # no row came after it: a later `add` would have started another write
                self._writing = None
