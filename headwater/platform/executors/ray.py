"""Ray task executors (`HEADWATER_EXECUTOR=ray`): each TE is a Ray actor that runs the same TE loop as a local TE
process (`headwater.engine.task_executor.serve`), so pooling, binding, draining and the token stream are unchanged.

Only starting a TE (creating its actor and one `run` call that lasts the TE's life), stopping and killing it are Ray
calls. Everything else, `Bind` and `Unbind` included, is the ZeroMQ protocol of `headwater.engine.ipc`: the gateway
listens on TCP at its node's IP (instead of a Unix-domain path) and the actor connects back, so tokens reach the
gateway with no Ray call per token. The supervisor of `LocalTaskExecutor` watches the actor through `ActorProcess`:
an actor that dies (killed, its node lost) fails its requests with a 503 at once and is replaced by a new actor.

Each TE reserves `num_cpus` logical CPUs and `num_gpus` GPUs (catalogue entry, else `HEADWATER_TE_NUM_CPUS` /
`HEADWATER_TE_NUM_GPUS`); a TE over more than one device gets a placement group, which keeps its devices reserved
across actor replacements and fails with a clear error when the cluster cannot place it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
from typing import Any

import msgspec
import ray
from ray.util.placement_group import PlacementGroup, placement_group, remove_placement_group
from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

from headwater.engine import ipc
from headwater.engine.task_executor import ExecutorSpec
from headwater.errors import ModelLoadError
from headwater.platform.executors.local import LocalTaskExecutor
from headwater.platform.executors.protocol import Process, TEResources

logger = logging.getLogger(__name__)
LOCAL_OBJECT_STORE_BYTES = 256 * 1024**2
"""Object store of a Ray instance the gateway starts itself: TEs pass no data through it, only a few small calls."""
LOST_EXIT_CODE = -9
"""What `ActorProcess` reports for an actor that did not return from `run` (killed, or its node lost)."""


class RayCluster:
    """The gateway's connection to Ray, made once (off the event loop) when the first Ray TE starts: the cluster at
    `address`, else a new local instance with this host's CPUs (no dashboard, no usage reporting)."""

    _lock = threading.Lock()
    """One for the process, as Ray's connection is: the TEs' cluster and the job runners' may join at once."""

    def __init__(self, address: str | None) -> None:
        self.address = address
        self.node_ip = ""
        """IP of the gateway's Ray node: where it listens for its TEs."""
        self.node_id = ""

    def connect(self) -> None:
        with self._lock:
            if not ray.is_initialized():
                os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
                if self.address:
                    ray.init(address=self.address)
                else:  # "local": a new instance even when one from `ray start` runs on this host
                    ray.init(
                        address="local",
                        num_cpus=os.cpu_count() or 1,
                        include_dashboard=False,
                        object_store_memory=LOCAL_OBJECT_STORE_BYTES,
                    )
                logger.info("joined Ray at %s", ray.get_runtime_context().gcs_address)
            if not self.node_id:
                self.node_ip = ray.util.get_node_ip_address()
                self.node_id = ray.get_runtime_context().get_node_id()

    def totals(self) -> dict[str, float]:
        """The cluster's resources in all (not what is free)."""
        return {name: float(amount) for name, amount in ray.cluster_resources().items()}


@ray.remote(max_restarts=0, max_task_retries=0)
class TaskExecutorActor:
    """A TE inside a Ray worker: `run` is the TE process's main loop, connected back to the gateway over TCP."""

    def where(self) -> tuple[int, str, str]:
        """Process id, node id and actor id, so the gateway can show the pid of an actor on its own node."""
        context = ray.get_runtime_context()
        return os.getpid(), context.get_node_id(), context.get_actor_id() or ""

    def run(self, spec: bytes) -> int:
        from headwater.engine.task_executor import serve

        logging.basicConfig(level=logging.WARNING, format="%(asctime)s te %(levelname)s %(message)s")
        # The TE exits when its parent process changes; a Ray worker's parent is its raylet, and Ray kills the
        # actor itself when the gateway (its owner) goes away.
        return serve(msgspec.json.decode(spec, type=ExecutorSpec))


class ActorProcess:
    """A TE actor seen as a process (`Process`): polled, waited for and killed through its `run` call."""

    def __init__(self, actor: Any, spec: ExecutorSpec, gateway_node_id: str) -> None:
        self.actor = actor
        self.actor_id: str = actor._actor_id.hex()
        self._gateway_node_id = gateway_node_id
        self._where = actor.where.remote()
        self._run = actor.run.remote(msgspec.json.encode(spec))
        self._pid: int | None = None
        self._code: int | None = None

    @property
    def pid(self) -> int | None:
        """The actor's process id when it runs on the gateway's node (else None: the id means nothing here)."""
        if self._pid is None and ray.wait([self._where], timeout=0)[0]:
            with contextlib.suppress(ray.exceptions.RayError):
                pid, node_id, _actor = ray.get(self._where)
                self._pid = pid if node_id == self._gateway_node_id else -1
        return self._pid if self._pid is not None and self._pid >= 0 else None

    def poll(self) -> int | None:
        if self._code is None and ray.wait([self._run], timeout=0)[0]:
            self._code = self._result()
        return self._code

    def _result(self) -> int:
        try:
            return int(ray.get(self._run))
        except ray.exceptions.RayError as error:
            logger.warning("Ray TE actor %s was lost: %s", self.actor_id, type(error).__name__)
            return LOST_EXIT_CODE

    def kill(self) -> None:
        with contextlib.suppress(ray.exceptions.RayError, ValueError):
            ray.kill(self.actor, no_restart=True)

    def wait(self) -> int:
        """Wait for `run` to end, then end the actor too (it would keep its CPUs and GPUs otherwise)."""
        if self._code is None:
            self._code = self._result()
        self.kill()
        return self._code


class RayTaskExecutor(LocalTaskExecutor):
    """A TE as a Ray actor; supervised, bound and streamed exactly like a local TE (see the module's docstring)."""

    def __init__(
        self,
        cluster: RayCluster,
        start_timeout_s: float = 180.0,
        name: str | None = None,
        resources: TEResources | None = None,
    ) -> None:
        super().__init__(start_timeout_s, name, resources)
        self.cluster = cluster
        self.actor_id: str | None = None
        self.placement: PlacementGroup | None = None
        self._options: dict[str, Any] = {}

    async def start(self, model: ipc.ModelSpec | None = None) -> None:
        """Join Ray, reserve the TE's resources (a placement group for several devices), then start as a local
        TE does; ModelLoadError when the cluster cannot hold the TE."""
        await asyncio.to_thread(self.cluster.connect)
        totals = await asyncio.to_thread(self.cluster.totals)
        num_cpus = self.resources.num_cpus if self.resources.num_cpus is not None else 1.0
        num_gpus = self.resources.num_gpus
        if num_gpus is None:  # the default: one GPU per TE where the cluster has GPUs
            num_gpus = 1.0 if totals.get("GPU", 0.0) >= 1 else 0.0
        if self.cluster.address is None:  # a local instance never grows: refuse what it cannot ever place
            for what, wanted, key in (("num_cpus", num_cpus, "CPU"), ("num_gpus", num_gpus, "GPU")):
                if wanted > totals.get(key, 0.0):
                    raise ModelLoadError(
                        f"a Ray TE needs {what}={wanted:g} but the local Ray instance has {totals.get(key, 0.0):g} "
                        f"{key} in all; lower the catalogue entry's {what} or HEADWATER_TE_{what.upper()}"
                    )
        self._options = {"num_cpus": num_cpus, "num_gpus": num_gpus}
        if num_gpus > 1:
            await self._reserve_placement(num_cpus, num_gpus)
        try:
            await super().start(model)
        except BaseException:
            self._release_placement()
            raise

    async def _reserve_placement(self, num_cpus: float, num_gpus: float) -> None:
        """One bundle with all the TE's devices on one node, held for the TE's life (its replacements reuse it)."""
        bundle = {"CPU": num_cpus, "GPU": num_gpus}
        self.placement = placement_group([bundle], strategy="STRICT_PACK", name=f"headwater-{self.id}")
        try:
            await asyncio.wait_for(asyncio.wrap_future(self.placement.ready().future()), self.start_timeout_s)
        except TimeoutError:
            self._release_placement()
            raise ModelLoadError(
                f"Ray could not place a TE needing {bundle} on one node in {self.start_timeout_s:.0f} s"
            ) from None
        self._options["scheduling_strategy"] = PlacementGroupSchedulingStrategy(self.placement, 0)

    def _release_placement(self) -> None:
        if self.placement is not None:
            with contextlib.suppress(ray.exceptions.RayError):
                remove_placement_group(self.placement)
            self.placement = None

    def _address(self, role: str) -> str:
        """TCP on the gateway's node IP, any free port: the actor may run on another node."""
        return f"tcp://{self.cluster.node_ip}:*"

    def _launch(self, spec: ExecutorSpec) -> Process:
        try:
            actor = TaskExecutorActor.options(**self._options).remote()  # type: ignore[attr-defined]
        except ray.exceptions.RayError as error:  # an OSError, which the supervisor retries after a pause
            raise ConnectionError(f"Ray could not create a TE actor: {error}") from error
        process = ActorProcess(actor, spec, self.cluster.node_id)
        self.actor_id = process.actor_id
        return process

    async def stop(self) -> None:
        """Stop the TE as a local one, then end its actor (also when the TE had already exited) and release its
        placement group."""
        await super().stop()
        if self._process is not None:
            self._process.kill()
        self._release_placement()
