"""The Executor protocol: what the control plane, the pool and the TE groups need from a task executor, whatever
runs it (a local child process, `executors.local`, or a Ray actor, `executors.ray`).

Both backends speak the same ZeroMQ messages to the same TE loop (`headwater.engine.task_executor`); they differ
only in how the TE is started, watched and killed (`Process`) and where the gateway listens for it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Literal, Protocol

from headwater.engine import ipc
from headwater.engine.protocol import EngineInfo, EngineOutput, EngineRequest, LoadReport
from headwater.platform.cache_view import CacheView

State = Literal["starting", "pooled", "binding", "ready", "draining", "stopped"]


@dataclass(frozen=True)
class TEResources:
    """What a TE is given by its backend: logical CPUs and devices (Ray reserves them; None: the backend's default,
    and the local backend reserves nothing). TEs with equal resources are interchangeable in the pool."""

    num_cpus: float | None = None
    num_gpus: float | None = None


class Process(Protocol):
    """The handle on a running TE that the supervisor polls and kills (`subprocess.Popen` is one)."""

    @property
    def pid(self) -> int | None: ...

    def poll(self) -> int | None:
        """The exit code once the TE has ended, else None (never blocks)."""
        ...

    def kill(self) -> None: ...

    def wait(self) -> int:
        """Block until the TE has ended (and its resources are released); its exit code."""
        ...


class Executor(Protocol):
    """One supervised TE: pooled (warm, no model) or bound to one model; `generate` streams a request's tokens."""

    id: str
    name: str
    model: ipc.ModelSpec | None
    draining: bool
    restarts: int
    load_report: LoadReport
    cache_view: CacheView
    info: EngineInfo
    phases: dict[str, float]
    pool_start_seconds: float
    bound_since: float | None
    resources: TEResources

    @property
    def pid(self) -> int | None:
        """The TE's process id on this host (None for a Ray actor on another node, or while none runs)."""
        ...

    @property
    def actor_id(self) -> str | None:
        """The Ray actor id of the current TE (None for a local process)."""
        ...

    @property
    def ready(self) -> bool: ...

    @property
    def state(self) -> State: ...

    @property
    def in_flight(self) -> int: ...

    async def start(self, model: ipc.ModelSpec | None = None) -> None: ...

    async def bind(self, model: ipc.ModelSpec, name: str) -> None: ...

    async def unbind(self) -> None: ...

    def generate(self, request: EngineRequest) -> AsyncIterator[EngineOutput]: ...

    async def unpin(self, prompt_ids: list[int], cache_salt: str | None) -> None:
        """Release the KV this TE pinned for a cached context of this prompt and salt (the context was deleted)."""
        ...

    async def stop(self) -> None: ...

    def kill(self) -> None: ...
