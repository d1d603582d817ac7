"""Job tasks on Ray actors (`HEADWATER_EXECUTOR=ray`): the supervision of `WorkerRunner`, the worker a Ray actor.

As with the serving TEs (`headwater.platform.executors.ray`), only starting, watching and killing the actor are Ray
calls. The task's messages (events, progress, checkpoints, the result) travel as they do from a local worker: a
`multiprocessing` connection, here over TCP to a socket the supervisor opens on its Ray node's IP for each attempt,
so an event costs no Ray call. The actor proves it is the one started for this attempt with a random token, checked
before anything it sends is unpickled.

An actor that dies (killed, out of memory, its node lost) is a lost worker: its task is retried from its last
checkpoint like a lost process. A cancel or a stopping platform kills the actor. Each actor reserves `num_cpus`
logical CPUs and `num_gpus` GPUs. The task's work folder is a path on the supervisor's host: a multi-node cluster
needs the data directory on storage every node mounts at the same path.
"""

from __future__ import annotations

import contextlib
import hmac
import logging
import secrets
import select
import socket
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import ray

from headwater.platform.executors.ray import LOST_EXIT_CODE, RayCluster
from headwater.platform.jobs.checkpoint_rotation import DEFAULT_CHECKPOINTS_KEPT
from headwater.platform.jobs.records import JobStore, TaskInfo
from headwater.platform.jobs.worker_process import run_task
from headwater.platform.jobs.workers import TaskArgs, Worker, WorkerLaunchError, WorkerRunner

logger = logging.getLogger(__name__)
TOKEN_BYTES = 32
HELLO_TIMEOUT_S = 5.0
"""How long a connection that reached the socket may take to present its token."""


@ray.remote(max_restarts=0, max_task_retries=0)
class TaskWorkerActor:
    """One attempt of one task inside a Ray worker: connects back to its supervisor, then runs `run_task`."""

    def run(self, address: tuple[str, int], token: bytes, args: TaskArgs) -> int:
        sock = socket.create_connection(address)
        conn = Connection(sock.detach())
        conn.send_bytes(token)
        run_task(*args, conn)
        return 0


class RayWorker:
    """A task's actor seen as a `Worker`: its messages from the connection it makes back, its life from `run`."""

    def __init__(self, actor: Any, run: Any, server: socket.socket, token: bytes, name: str) -> None:
        self.actor = actor
        self.name = name
        self._run = run
        self._server = server
        self._token = token
        self._conn: Connection | None = None
        self._code: int | None = None

    def poll(self, timeout_s: float) -> bool:
        if self._conn is None:
            return self._accept(timeout_s) and self._conn is not None and self._conn.poll(0)
        return self._conn.poll(timeout_s)

    def recv(self) -> tuple:
        if self._conn is None:
            raise OSError("the task's actor has not connected yet")
        return self._conn.recv()

    def is_alive(self) -> bool:
        """True until `run` ended; after a normal end, until its connection is read to the end (it closed it after
        the last message, so the supervisor sees the EOF)."""
        code = self.join(0)
        return code is None or code == 0

    def join(self, timeout_s: float) -> int | None:
        if self._code is None and ray.wait([self._run], timeout=timeout_s)[0]:
            self._code = self._result()
        return self._code

    def terminate(self) -> None:
        self.kill()  # an actor gets no SIGTERM: what a task would save on one it saves as checkpoints anyway

    def kill(self) -> None:
        with contextlib.suppress(ray.exceptions.RayError, ValueError):
            ray.kill(self.actor, no_restart=True)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
        self._server.close()
        self.kill()  # also after a normal end: the actor would keep its CPUs and GPUs

    def _result(self) -> int:
        try:
            return int(ray.get(self._run))
        except ray.exceptions.RayError as error:
            logger.warning("Ray task worker %s was lost: %s", self.name, type(error).__name__)
            return LOST_EXIT_CODE

    def _accept(self, timeout_s: float) -> bool:
        """Take the actor's connection if one waits; a connection without this attempt's token is dropped."""
        if not select.select([self._server], [], [], timeout_s)[0]:
            return False
        sock, _peer = self._server.accept()
        sock.setblocking(True)
        conn = Connection(sock.detach())
        try:
            hello = conn.recv_bytes(TOKEN_BYTES) if conn.poll(HELLO_TIMEOUT_S) else b""
        except (EOFError, OSError):
            hello = b""
        if not hmac.compare_digest(hello, self._token):
            logger.warning("dropped a connection to task worker %s without its token", self.name)
            conn.close()
            return False
        self._conn = conn
        return True


class RayWorkerRunner(WorkerRunner):
    """Runs jobs' tasks on Ray actors, each reserving `num_cpus` CPUs and `num_gpus` GPUs."""

    def __init__(
        self,
        jobs: JobStore,
        workdir: Path,
        cluster: RayCluster,
        num_cpus: float = 1.0,
        num_gpus: float = 0.0,
        poll_s: float = 0.1,
        grace_s: float = 5.0,
        checkpoints_kept: int = DEFAULT_CHECKPOINTS_KEPT,
    ) -> None:
        super().__init__(jobs, workdir, poll_s, grace_s, checkpoints_kept)
        self.cluster = cluster
        self.num_cpus = num_cpus
        self.num_gpus = num_gpus

    def _launch(self, task: TaskInfo, args: TaskArgs) -> Worker:
        self.cluster.connect()
        self._check_fits()
        server = socket.create_server((self.cluster.node_ip, 0))
        token = secrets.token_bytes(TOKEN_BYTES)
        try:
            options = {"num_cpus": self.num_cpus, "num_gpus": self.num_gpus}
            actor = TaskWorkerActor.options(**options).remote()  # type: ignore[attr-defined]
            run = actor.run.remote(server.getsockname()[:2], token, args)
        except (ray.exceptions.RayError, ValueError) as error:
            server.close()
            raise WorkerLaunchError(f"Ray could not create a worker for task {task.name}: {error}") from error
        return RayWorker(actor, run, server, token, f"headwater-task-{task.id}")

    def _check_fits(self) -> None:
        """A local Ray instance never grows: refuse a task it can never place instead of waiting for ever."""
        if self.cluster.address is not None:
            return
        totals = self.cluster.totals()
        for what, wanted, key in (("num_cpus", self.num_cpus, "CPU"), ("num_gpus", self.num_gpus, "GPU")):
            if wanted > totals.get(key, 0.0):
                raise WorkerLaunchError(
                    f"a Ray task worker needs {what}={wanted:g} but the local Ray instance has "
                    f"{totals.get(key, 0.0):g} {key} in all; lower HEADWATER_TASK_{what.upper()}"
                )
