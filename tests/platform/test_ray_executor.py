"""The Ray backend on its own: a TE as a Ray actor on the session's local Ray instance (resources reserved, a
placement group for several devices, tokens over ZeroMQ), the refusal of a TE the instance can never hold, and
the backend choice and the pool's resource matching (no Ray needed for those)."""

from __future__ import annotations

import asyncio
import os

import pytest

from headwater.config import Settings
from headwater.engine.ipc import ModelSpec
from headwater.engine.protocol import EngineRequest, SamplingParams
from headwater.errors import ModelLoadError
from headwater.platform.executors import TEResources, executor_factory, te_resources
from headwater.platform.executors.local import LocalTaskExecutor
from headwater.platform.pool import Pool


@pytest.mark.ray
def test_a_multi_device_ray_te_gets_a_placement_group_binds_and_streams(ray_address, tiny_chat_path, data_dir):
    import ray

    from headwater.platform.executors.ray import RayCluster, RayTaskExecutor

    async def scenario() -> None:
        executor = RayTaskExecutor(RayCluster(ray_address), 120, resources=TEResources(num_cpus=0.5, num_gpus=2))
        try:
            await executor.start()
            assert executor.state == "pooled"
            assert executor.actor_id and executor.pid not in (None, os.getpid())  # an actor on this very node
            placement = executor.placement
            assert placement is not None
            table = ray.util.placement_group_table(placement)
            assert table["state"] == "CREATED" and table["bundles"][0] == {"CPU": 0.5, "GPU": 2.0}
            await executor.bind(ModelSpec(str(tiny_chat_path), str(data_dir), device="cpu"), "tiny/ray")
            assert executor.state == "ready" and executor.phases["weight_load"] > 0
            request = EngineRequest("r1", [1, 2, 3], SamplingParams(max_tokens=5, temperature=0))
            outputs = [output async for output in executor.generate(request)]
            assert sum(len(output.token_ids) for output in outputs) == 5
            assert outputs[-1].finish_reason == "length"
        finally:
            await executor.stop()
        assert ray.util.placement_group_table(placement)["state"] == "REMOVED"
        process = executor._process
        assert process is not None and process.poll() is not None  # the actor is gone, its resources free

    asyncio.run(scenario())


@pytest.mark.ray
def test_a_te_the_local_ray_instance_can_never_hold_is_refused_at_once(ray_address):
    from headwater.platform.executors.ray import RayCluster, RayTaskExecutor

    # No address: the gateway's own local instance (here: the session's, already joined), which never grows.
    executor = RayTaskExecutor(RayCluster(None), 120, resources=TEResources(num_cpus=1, num_gpus=64))
    with pytest.raises(ModelLoadError, match="num_gpus=64"):
        asyncio.run(executor.start())


def test_the_backend_and_the_resources_come_from_the_settings(monkeypatch):
    local = Settings(executor="local", te_num_cpus=2)
    assert te_resources(local, num_cpus=4) == TEResources()  # the local backend reserves nothing
    assert isinstance(executor_factory(local)(TEResources()), LocalTaskExecutor)
    ray_settings = Settings(executor="ray", te_num_cpus=2, te_num_gpus=None)
    assert te_resources(ray_settings) == TEResources(2, None)
    assert te_resources(ray_settings, num_gpus=4) == TEResources(2, 4)
    monkeypatch.setenv("HEADWATER_EXECUTOR", "ray")
    monkeypatch.setenv("HEADWATER_RAY_ADDRESS", "10.0.0.5:6379")
    monkeypatch.setenv("HEADWATER_TE_NUM_GPUS", "2")
    from_env = Settings()
    assert (from_env.executor, from_env.ray_address, from_env.te_num_gpus) == ("ray", "10.0.0.5:6379", 2)


class _FakeExecutor:
    """Just what the pool touches: state, resources, start/unbind/stop."""

    def __init__(self, resources: TEResources) -> None:
        self.resources = resources
        self.state = "starting"
        self.stopped = False

    async def start(self) -> None:
        self.state = "pooled"

    async def unbind(self) -> None:
        self.state = "pooled"

    async def stop(self) -> None:
        self.stopped = True


def test_the_pool_hands_its_tes_only_to_models_with_the_same_resources():
    default, bigger = TEResources(1, 0), TEResources(4, 1)
    made: list[_FakeExecutor] = []

    def make(resources: TEResources) -> _FakeExecutor:
        made.append(_FakeExecutor(resources))
        return made[-1]

    async def scenario() -> None:
        pool = Pool(1, make, default)  # type: ignore[arg-type]
        await pool.fill()
        pooled = made[0]
        executor, _took, from_pool = await pool.take(bigger)
        assert not from_pool and executor is not pooled and executor.resources == bigger
        assert pool.idle == [pooled]
        await pool.give_back(executor)  # not the pool's kind: stopped, not kept
        assert executor.stopped and pool.idle == [pooled]  # type: ignore[attr-defined]
        executor, _took, from_pool = await pool.take(default)
        assert from_pool and executor is pooled
        await pool.stop()

    asyncio.run(scenario())
