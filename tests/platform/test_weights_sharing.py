"""Two real TEs of tiny-chat on one host share one copy of its weights: the second reports `peer`, answers like
the first, and its proportional share of the weight pages is smaller than a whole copy. Then the gateway end to
end: the `weights` block of /v1/admin/executors, the weight source in the phase metrics, and the /dev/shm copy
removed when the server stops."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from headwater.engine.ipc import ModelSpec
from headwater.engine.protocol import EngineRequest, SamplingParams
from headwater.engine.weights import mapped_memory, weight_files
from headwater.platform.executors.local import LocalTaskExecutor
from tests.conftest import start_server


async def _greedy(executor: LocalTaskExecutor, request_id: str) -> list[int]:
    request = EngineRequest(request_id, [5, 6, 7, 8], SamplingParams(max_tokens=8, temperature=0))
    return [token for output in [o async for o in executor.generate(request)] for token in output.token_ids]


async def _two_tes(spec: ModelSpec) -> tuple[list[str], list[list[int]], list[int]]:
    executors = [LocalTaskExecutor(120.0), LocalTaskExecutor(120.0)]
    try:
        sources, outputs = [], []
        await asyncio.gather(*(executor.start() for executor in executors))  # pooled: imports done in parallel
        for index, executor in enumerate(executors):  # bound one after the other: the second finds the first's copy
            await executor.bind(spec, f"tiny/{index}")
            sources.append(executor.weights_source)
            outputs.append(await _greedy(executor, f"r{index}"))
        pss = [mapped_memory(executor.pid, spec.shared_weights).pss_kb for executor in executors]
        return sources, outputs, pss
    finally:
        await asyncio.gather(*(executor.stop() for executor in executors))


def test_a_second_te_maps_the_first_tes_weights(tmp_path, tiny_chat_path):
    shared = tmp_path / "shm" / "tiny"
    spec = ModelSpec(str(tiny_chat_path), shared_weights=str(shared))
    sources, outputs, pss = asyncio.run(_two_tes(spec))
    assert sources[0] in ("disk", "page_cache") and sources[1] == "peer"
    assert outputs[0] == outputs[1] and len(outputs[0]) == 8
    copy_kb = sum(path.stat().st_size for path in weight_files(shared)) // 1024
    # both TEs touched every weight in their forward passes; the pages are split between them
    assert 0 < pss[1] < 0.75 * copy_kb
    assert sum(pss) <= 1.1 * copy_kb, pss


def test_the_gateway_reports_weights_and_cleans_up_its_shared_copy(tmp_path, tiny_chat_path):
    catalogue = tmp_path / "models.yaml"
    catalogue.write_text(
        f"models:\n  - model: {tiny_chat_path}\n    name: tiny-pair\n"
        "    min_tes: 2\n    max_tes: 2\n    preload: true\n"
    )
    server = start_server(
        None, tmp_path / "data", "tiny-pair", {"HEADWATER_POOL_SIZE": "0"}, ["--models", str(catalogue)]
    )
    try:
        from headwater.platform.store import Store

        store = Store(f"sqlite:///{tmp_path / 'data' / 'headwater.db'}")
        admin = store.create_api_key("admin")[1]
        store.engine.dispose()
        response = httpx.get(server.base_url + "/admin/executors", headers={"Authorization": f"Bearer {admin}"})
        model = response.json()["models"][0]
        assert {"name", "model", "min_tes", "max_tes", "tes"} <= model.keys()
        weights = model["weights"]
        size = sum(path.stat().st_size for path in weight_files(tiny_chat_path))
        assert weights["bytes"] == size and weights["cached_bytes"] == size and weights["shared_bytes"] == size
        assert weights["keep_warm"] is True and weights["source"] in ("disk", "page_cache", "peer")
        metrics = httpx.get(server.base_url.removesuffix("/v1") + "/metrics").text
        assert 'headwater_scale_phase_seconds_count{phase="weight_load",source="peer"} 1.0' in metrics
        shared = list(Path("/dev/shm").glob(f"headwater-{server.process.pid}-*"))
        assert [folder.name for folder in shared] == [f"headwater-{server.process.pid}-tiny-pair"]
    finally:
        server.stop()
    assert not list(Path("/dev/shm").glob(f"headwater-{server.process.pid}-*"))
