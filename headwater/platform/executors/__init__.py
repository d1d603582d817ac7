"""Task-executor backends behind one `Executor` protocol: local child processes (the default) and Ray actors
(`HEADWATER_EXECUTOR=ray`). `executor_factory` picks one from the settings; Ray is imported only when chosen."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from headwater.config import Settings
from headwater.errors import InvalidRequestError
from headwater.platform.executors.protocol import Executor, Process, State, TEResources

if TYPE_CHECKING:
    from headwater.platform.executors.ray import RayCluster

ExecutorFactory = Callable[[TEResources], Executor]
"""Makes a new (not yet started) TE with the given resources."""

__all__ = [
    "Executor",
    "ExecutorFactory",
    "Process",
    "State",
    "TEResources",
    "executor_factory",
    "ray_cluster",
    "te_resources",
]


def te_resources(settings: Settings, num_cpus: float | None = None, num_gpus: float | None = None) -> TEResources:
    """What a TE reserves: a catalogue entry's `num_cpus` / `num_gpus` where given, else the settings'. The local
    backend reserves nothing, so all its TEs are alike (and any pooled one can take any model)."""
    if settings.executor == "local":
        return TEResources()
    return TEResources(
        num_cpus if num_cpus is not None else settings.te_num_cpus,
        num_gpus if num_gpus is not None else settings.te_num_gpus,
    )


def executor_factory(settings: Settings) -> ExecutorFactory:
    """A maker of TEs for the backend `settings.executor` names."""
    timeout_s = settings.engine_start_timeout_s
    if settings.executor == "ray":
        cluster = ray_cluster(settings)
        from headwater.platform.executors.ray import RayTaskExecutor

        return lambda resources: RayTaskExecutor(cluster, timeout_s, resources=resources)
    from headwater.platform.executors.local import LocalTaskExecutor

    return lambda resources: LocalTaskExecutor(timeout_s, resources=resources)


def ray_cluster(settings: Settings) -> RayCluster:
    """The Ray cluster of `settings.ray_address` (joined on first use), for TEs and job tasks alike; a clear error
    naming `executor` when Ray is not installed."""
    try:
        from headwater.platform.executors.ray import RayCluster
    except ImportError as error:
        raise InvalidRequestError(
            f"HEADWATER_EXECUTOR=ray needs Ray ({error}); install it with `pip install 'headwater[ray]'`",
            param="executor",
        ) from None
    return RayCluster(settings.ray_address)
