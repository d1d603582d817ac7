"""The pool of pre-warmed task executors: processes with their imports and device set-up done and no model,
waiting for a `Bind` (DeepFlow's fix for the "engine start" phase of a scale-up).

`take` hands out a pooled TE at once when there is one (and refills the pool in the background); otherwise it
starts a fresh process, which is the cold path the pool exists to avoid. `give_back` unbinds a drained TE and
keeps it, or stops it when the pool is already full.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from headwater.errors import ModelLoadError
from headwater.platform.executors.protocol import Executor, TEResources

logger = logging.getLogger(__name__)


class Pool:
    """Keeps `size` pooled TEs with `resources` (what a TE reserves on its backend; a model that needs other
    resources gets a fresh TE made for it)."""

    def __init__(
        self, size: int, make: Callable[[TEResources], Executor], resources: TEResources | None = None
    ) -> None:
        self.size = size
        self._make = make
        self.resources = resources or TEResources()
        self.idle: list[Executor] = []
        self._starting: set[asyncio.Task[None]] = set()
        self._closed = False

    @property
    def members(self) -> list[Executor]:
        return list(self.idle)

    async def fill(self) -> None:
        """Start TEs until the pool (with those already starting) is full, and wait for them."""
        missing = self.size - len(self.idle) - len(self._starting)
        tasks = [self._start_one() for _ in range(max(0, missing))]
        await asyncio.gather(*tasks)

    def refill_soon(self) -> None:
        """Top the pool up in the background."""
        if self._closed:
            return
        for _ in range(max(0, self.size - len(self.idle) - len(self._starting))):
            task = asyncio.create_task(self._start_one())
            self._starting.add(task)
            task.add_done_callback(self._starting.discard)

    async def _start_one(self) -> None:
        executor = self._make(self.resources)
        try:
            await executor.start()
        except ModelLoadError as error:  # a pooled TE that cannot even start: logged, the next take starts one
            logger.error("could not start a pooled task executor: %s", error)
            return
        except asyncio.CancelledError:
            await executor.stop()
            raise
        if self._closed:
            await executor.stop()
            return
        self.idle.append(executor)

    async def take(self, resources: TEResources | None = None) -> tuple[Executor, float, bool]:
        """A pooled TE with `resources` (default: the pool's), the seconds it took to get it, and whether it came
        from the pool (else a fresh process)."""
        started = time.monotonic()
        resources = resources or self.resources
        while self.idle and resources == self.resources:
            executor = self.idle.pop(0)
            if executor.state == "pooled":
                self.refill_soon()
                return executor, time.monotonic() - started, True
            await executor.stop()  # died while waiting and is restarting: not worth waiting for
        executor = self._make(resources)
        await executor.start()
        self.refill_soon()
        return executor, time.monotonic() - started, False

    async def give_back(self, executor: Executor) -> None:
        """Unbind a drained TE into the pool, or stop it when the pool is full, the TE's resources are not the
        pool's (or the unbind fails)."""
        if self._closed or len(self.idle) >= self.size or executor.resources != self.resources:
            await executor.stop()
            return
        try:
            await executor.unbind()
        except ModelLoadError as error:
            logger.warning("%s did not return to the pool (%s); stopping it", executor.id, error)
            await executor.stop()
            return
        self.idle.append(executor)

    async def stop(self) -> None:
        self._closed = True
        for task in list(self._starting):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await asyncio.gather(*(executor.stop() for executor in self.idle))
        self.idle.clear()
