"""Local task executors: a TE is a child process, pooled (warm, no model) or bound to one model, supervised by
the gateway.

`LocalTaskExecutor` spawns the process, talks to it over ZeroMQ (see `headwater.engine.ipc`), binds and unbinds
its model, routes each request's token deltas to its own asyncio queue, and watches the process. When the TE dies
or stops sending its heartbeat, every request in flight on it fails at once with `EngineUnavailableError` (HTTP
503, never a hang) and a fresh process is started in the same role (bound to the same model, or pooled); new
requests wait for it to be ready.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import cast

import msgspec
import zmq
import zmq.asyncio

from headwater.engine import ipc
from headwater.engine.protocol import EngineInfo, EngineOutput, EngineRequest, LoadReport
from headwater.engine.task_executor import ExecutorSpec
from headwater.errors import EngineUnavailableError, ModelLoadError
from headwater.platform.cache_view import CacheView
from headwater.platform.executors.protocol import Process, State, TEResources

logger = logging.getLogger(__name__)
HEARTBEAT_TIMEOUT_S = 30.0
WATCH_PERIOD_S = 0.1
_ids = itertools.count()


class _ExecutorDied(Exception):
    """Internal marker put on a request's queue when its TE is lost."""


class LocalTaskExecutor:
    """One supervised TE process; bound to a model it serves it, pooled it waits for one."""

    actor_id: str | None = None
    """Local TEs are processes, not Ray actors."""

    def __init__(
        self, start_timeout_s: float = 180.0, name: str | None = None, resources: TEResources | None = None
    ) -> None:
        self.id = f"te-{next(_ids)}"
        self.resources = resources or TEResources()
        """What the TE was given (the local backend reserves nothing: a TE is a process on this host)."""
        self.name = name or self.id
        self.start_timeout_s = start_timeout_s
        self.model: ipc.ModelSpec | None = None
        self.draining = False
        self.restarts = 0
        self.load_report = LoadReport()
        self.cache_view = CacheView()
        """The exact set of KV blocks the TE holds, from its cache events (for prefix-aware routing)."""
        self.info = EngineInfo()
        self.phases: dict[str, float] = {}
        """Seconds of each scale-up phase of the last bind, as the TE measured them."""
        self.weights_source = "disk"
        """Where the last bind's weights came from: `disk`, `page_cache` or `peer`."""
        self.pool_start_seconds = 0.0
        self.bound_since: float | None = None
        self._process: Process | None = None
        self._queues: dict[str, asyncio.Queue[EngineOutput | _ExecutorDied]] = {}
        self._ready = asyncio.Event()
        self._pooled = asyncio.Event()
        self._context = zmq.asyncio.Context()
        self._sockets: tuple[zmq.asyncio.Socket, zmq.Socket] | None = None
        self._ipc_dir = Path(tempfile.mkdtemp(prefix="headwater-te-"))
        self._incarnation = 0
        self._last_heartbeat = 0.0
        self._tasks: list[asyncio.Task[None]] = []
        self._closing = False
        self._startup_error: str | None = None

    @property
    def pid(self) -> int | None:
        """Process id of the current TE, if one is running."""
        return self._process.pid if self._process is not None else None

    @property
    def ready(self) -> bool:
        return self._ready.is_set()

    @property
    def state(self) -> State:
        if self._closing:
            return "stopped"
        if self._ready.is_set():
            return "draining" if self.draining else "ready"
        if self.model is not None:
            return "binding" if self._pooled.is_set() else "starting"
        return "pooled" if self._pooled.is_set() else "starting"

    @property
    def in_flight(self) -> int:
        return len(self._queues)

    async def start(self, model: ipc.ModelSpec | None = None) -> None:
        """Spawn the TE, bound to `model` at once (a cold start) or pooled, and wait until it is so; raise
        ModelLoadError with the TE's own reason if it cannot start."""
        self.model = model
        self._spawn()
        self._tasks.append(asyncio.create_task(self._watch(), name=f"{self.id}-watch"))
        try:
            await self._wait(self._ready if model is not None else self._pooled, self.start_timeout_s)
        except ModelLoadError:
            await self.stop()
            raise
        if model is not None:
            self.bound_since = time.time()

    async def bind(self, model: ipc.ModelSpec, name: str) -> None:
        """Load `model` into this pooled TE and wait until it serves; ModelLoadError (the TE's reason) if not."""
        if self.state != "pooled":
            raise RuntimeError(f"{self.id} is {self.state}, not pooled: it cannot take a model")
        self.model, self.name, self.draining = model, name, False
        self._startup_error = None
        await self._send(ipc.Bind(model))
        await self._wait(self._ready, self.start_timeout_s)
        self.bound_since = time.time()

    async def unbind(self) -> None:
        """Free the model and go back to the pool (the caller drained the TE first)."""
        self.model, self.draining, self.bound_since = None, False, None
        self.cache_view.clear()
        self._ready.clear()
        self._pooled.clear()
        await self._send(ipc.Unbind())
        await self._wait(self._pooled, self.start_timeout_s)
        self.name = self.id

    async def _wait(self, event: asyncio.Event, timeout_s: float) -> None:
        """Wait for `event`; fail fast with the TE's own reason when it cannot load its model."""
        deadline = time.monotonic() + timeout_s
        while not event.is_set():
            if self._startup_error is not None:
                what = self.model.model if self.model is not None else "a pooled task executor"
                raise ModelLoadError(f"cannot serve {what!r}: {self._startup_error}")
            if time.monotonic() > deadline:
                raise ModelLoadError(f"task executor {self.name} did not become ready in {timeout_s:.0f} s")
            await asyncio.sleep(0.02)

    def _spawn(self) -> None:
        self._incarnation += 1
        self.cache_view.clear()
        self._startup_error = None
        requests = self._context.socket(zmq.PUSH)
        requests.setsockopt(zmq.LINGER, 0)
        requests.bind(self._address("requests"))
        outputs = zmq.Socket(self._context, zmq.PULL)  # not an asyncio socket: `_drain` reads it
        outputs.setsockopt(zmq.LINGER, 0)
        outputs.bind(self._address("outputs"))
        self._sockets = (requests, outputs)
        requests_at, outputs_at = (socket.getsockopt_string(zmq.LAST_ENDPOINT) for socket in self._sockets)
        self._process = self._launch(ExecutorSpec(requests_at, outputs_at, bind=self.model))
        self._last_heartbeat = time.monotonic()
        asyncio.get_running_loop().add_reader(outputs.FD, self._drain, outputs)

    def _address(self, role: str) -> str:
        """Where the gateway listens for this incarnation's `role` socket: a Unix-domain path, the TE being on this
        host (the Ray backend listens on TCP instead)."""
        return f"ipc://{self._ipc_dir}/{self._incarnation}-{role}"

    def _launch(self, spec: ExecutorSpec) -> Process:
        """Start the TE process for `spec`."""
        command = [sys.executable, "-m", "headwater.engine.task_executor", msgspec.json.encode(spec).decode()]
        # Its own session: a Ctrl-C meant for the gateway must not kill the TE mid-request; the gateway stops it
        # (and the TE exits by itself if the gateway disappears).
        return subprocess.Popen(command, stdin=subprocess.DEVNULL, start_new_session=True)

    def _drain(self, socket: zmq.Socket) -> None:
        """Handle every message waiting from the TE; the event loop calls this when the socket's descriptor
        signals. ZeroMQ signals edge-triggered, so everything waiting is read until `EVENTS` says none is left.
        A loop callback, not a task awaiting `zmq.asyncio`'s recv: that makes a future and two task wake-ups per
        message, and at one stream a message is one token, the gateway's most frequent work (py-spy at one stream:
        reading took a quarter of the gateway's Python time per token that way, a third as much now)."""
        try:
            while cast(int, socket.getsockopt(zmq.EVENTS)) & zmq.POLLIN:
                frame = socket.recv(zmq.NOBLOCK)
                try:
                    self._handle(ipc.decode_from_executor(frame))
                except Exception:  # one bad message must not stop the reading: later outputs would never arrive
                    logger.exception("%s sent a message that could not be handled", self.name)
        except zmq.ZMQError:  # the socket was closed (the TE is being replaced); its successor has its own reader
            pass

    def _handle(self, message: ipc.FromExecutor) -> None:
        self._last_heartbeat = time.monotonic()
        if isinstance(message, ipc.Outputs):
            self._dispatch(message.outputs)
        elif isinstance(message, ipc.Load):
            self.load_report = message.report
            if message.cache is not None:
                self.cache_view.apply(message.cache)
        elif isinstance(message, ipc.Pooled):
            self.pool_start_seconds = message.start_seconds
            self._pooled.set()
        elif isinstance(message, ipc.Ready):
            self.info, self.phases = message.info, dict(message.phases)
            self.weights_source = message.weights_source
            self._pooled.clear()
            logger.info("%s ready (pid %s, %.1f s)", self.name, message.pid, message.load_seconds)
            self._ready.set()
        else:
            self._startup_error = message.error
            logger.error("%s failed: %s", self.name, message.error)

    def _dispatch(self, outputs: list[EngineOutput]) -> None:
        for output in outputs:
            queue = self._queues.get(output.request_id)
            if queue is not None:
                queue.put_nowait(output)

    async def _watch(self) -> None:
        while not self._closing:
            await asyncio.sleep(WATCH_PERIOD_S)
            process = self._process
            if process is None:
                continue
            exited = process.poll() is not None
            alive = self._ready.is_set() or self._pooled.is_set()
            silent = alive and time.monotonic() - self._last_heartbeat > HEARTBEAT_TIMEOUT_S
            if exited or silent:
                try:
                    await self._replace(process, "exited" if exited else "stopped responding")
                except (OSError, zmq.ZMQError) as error:  # keep supervising: try again after a pause
                    logger.error("%s could not be restarted: %s", self.name, error)
                    await asyncio.sleep(5.0)

    async def _replace(self, process: Process, how: str) -> None:
        """Fail everything in flight on a lost TE, then start a new one in the same role (with a pause if it
        died at start-up)."""
        died_at_start = not (self._ready.is_set() or self._pooled.is_set())
        self._ready.clear()
        self._pooled.clear()
        logger.error(
            "%s (pid %s) %s; failing %d request(s) and restarting", self.name, process.pid, how, len(self._queues)
        )
        if process.poll() is None:
            process.kill()
        await asyncio.to_thread(process.wait)
        for queue in self._queues.values():
            queue.put_nowait(_ExecutorDied(f"task executor {self.name} {how}"))
        self._close_sockets()
        if self._closing:
            return
        self.restarts += 1
        if died_at_start:
            await asyncio.sleep(min(30.0, 2.0**self.restarts))
        self._spawn()

    async def generate(self, request: EngineRequest) -> AsyncIterator[EngineOutput]:
        """Stream the request's token deltas; abort it on the TE if the consumer stops early."""
        if not self._ready.is_set():
            try:
                await asyncio.wait_for(self._ready.wait(), self.start_timeout_s)
            except TimeoutError:
                raise EngineUnavailableError(
                    f"task executor {self.name} is restarting and not ready yet; retry shortly"
                ) from None
        if self._process is None or self._process.poll() is not None:
            raise EngineUnavailableError(f"task executor {self.name} is restarting; retry shortly")
        queue: asyncio.Queue[EngineOutput | _ExecutorDied] = asyncio.Queue()
        self._queues[request.request_id] = queue
        finished = False
        try:
            try:
                await self._send(ipc.AddRequest(request))
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if task is not None and task.cancelling():
                    raise
                # the socket was closed under us: the TE died between the liveness check and the send
                raise EngineUnavailableError(f"task executor {self.name} stopped; retry shortly") from None
            while not finished:
                item = await queue.get()
                if isinstance(item, _ExecutorDied):
                    raise EngineUnavailableError(f"{item}; the request did not complete, retry it")
                finished = item.finish_reason is not None
                yield item
        finally:
            self._queues.pop(request.request_id, None)
            if not finished and self._ready.is_set():
                with contextlib.suppress(zmq.ZMQError):
                    await self._send(ipc.AbortRequest(request.request_id))

    async def unpin(self, prompt_ids: list[int], cache_salt: str | None) -> None:
        if self._ready.is_set():
            with contextlib.suppress(zmq.ZMQError, EngineUnavailableError):  # a TE gone has lost its pins anyway
                await self._send(ipc.Unpin(prompt_ids, cache_salt))

    async def _send(self, message: ipc.ToExecutor, flags: int = 0) -> None:
        if self._sockets is None:
            raise EngineUnavailableError(f"task executor {self.name} is restarting; retry shortly")
        await self._sockets[0].send(ipc.encode(message), flags)

    async def stop(self) -> None:
        """Ask the TE to exit, kill it if it does not, and release the sockets."""
        self._closing = True
        for task in self._tasks:
            task.cancel()
        process = self._process
        if process is not None and process.poll() is None:
            with contextlib.suppress(zmq.ZMQError, EngineUnavailableError):
                # not waiting for a peer: a TE that has closed its socket (it failed and is exiting) or not yet
                # connected it would block this send for ever; such a TE is waited for, then killed, below
                await self._send(ipc.Shutdown(), zmq.NOBLOCK)
            try:
                await asyncio.wait_for(asyncio.to_thread(process.wait), 10)
            except TimeoutError:
                process.kill()
        for queue in self._queues.values():
            queue.put_nowait(_ExecutorDied("the server is shutting down"))
        self._close_sockets()
        self._context.term()
        shutil.rmtree(self._ipc_dir, ignore_errors=True)

    def kill(self) -> None:
        """Kill the TE process (tests and chaos drills); the watcher restarts it."""
        if self._process is not None and self._process.poll() is None:
            self._process.kill()

    def _close_sockets(self) -> None:
        if self._sockets is not None:
            asyncio.get_running_loop().remove_reader(self._sockets[1].FD)
            for socket in self._sockets:
                socket.close(linger=0)
            self._sockets = None
