"""The weight keeper's decisions with a fake clock and a temporary folder standing in for /dev/shm: which models
stay warm, when a shared copy is dropped, what the admin view reports, and the sweep of dead gateways' folders."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

from headwater.platform.weight_keeper import WeightKeeper, sweep_stale


def _model(tmp_path, size: int = 3 * 4096):
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "model.safetensors").write_bytes(b"\0" * size)
    (folder / "config.json").write_text("{}")
    return folder


def _publish(shared: str) -> None:
    """What the first TE does: the copy lands in the shared folder."""
    os.makedirs(shared, exist_ok=True)
    with open(os.path.join(shared, "model.safetensors"), "wb") as file:
        file.write(b"\0" * 4096)


def test_a_model_gets_a_shared_folder_named_after_the_gateway_and_the_model(tmp_path):
    root = tmp_path / "shm"
    root.mkdir()
    keeper = WeightKeeper(3600, share=True, root=root)
    shared = keeper.add("org/my model", str(_model(tmp_path)), preload=False, now=0.0)
    assert shared == str(root / f"headwater-{os.getpid()}-org_my_model")
    assert WeightKeeper(3600, share=False, root=root).add("m", str(tmp_path / "model"), False) is None
    assert keeper.add("hub", "org/not-a-folder", preload=False) is None  # nothing local to share


def test_the_report_counts_file_cached_and_shared_bytes(tmp_path):
    root = tmp_path / "shm"
    root.mkdir()
    keeper = WeightKeeper(3600, share=True, root=root)
    shared = keeper.add("m", str(_model(tmp_path)), preload=False, now=0.0)
    assert keeper.report("m", now=10.0) == {
        "bytes": 3 * 4096,
        "cached_bytes": 3 * 4096,  # just written
        "shared_bytes": 0,
        "source": None,
        "keep_warm": True,
    }
    _publish(shared)
    keeper.bound("m", "peer")
    report = keeper.report("m", now=10.0)
    assert report["shared_bytes"] == 4096 and report["source"] == "peer"


def test_an_unused_model_loses_its_shared_copy_after_keep_warm_but_a_preloaded_one_keeps_it(tmp_path):
    root = tmp_path / "shm"
    root.mkdir()
    keeper = WeightKeeper(100, share=True, root=root)
    folder = _model(tmp_path)
    cold = keeper.add("cold", str(folder), preload=False, now=0.0)
    hot = keeper.add("hot", str(folder), preload=True, now=0.0)
    _publish(cold)
    _publish(hot)

    async def ticks() -> None:
        keeper.tick({"cold": True}, now=50.0)  # in use: last used at 50
        keeper.tick({}, now=120.0)  # 70 s idle: still warm
        assert os.path.exists(cold)
        keeper.tick({}, now=151.0)  # 101 s idle: dropped
        await asyncio.sleep(0)

    asyncio.run(ticks())
    assert not os.path.exists(cold) and os.path.exists(hot)
    assert keeper.report("cold", now=151.0)["keep_warm"] is False
    assert keeper.report("hot", now=151.0)["keep_warm"] is True
    keeper.stop()
    assert not os.path.exists(hot)


def test_removing_a_model_deletes_its_shared_copy(tmp_path):
    root = tmp_path / "shm"
    root.mkdir()
    keeper = WeightKeeper(3600, share=True, root=root)
    shared = keeper.add("m", str(_model(tmp_path)), preload=False)
    _publish(shared)
    keeper.remove("m")
    assert not os.path.exists(shared) and "m" not in keeper.models


def test_sweep_removes_only_the_folders_of_gateways_that_are_gone(tmp_path):
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(gone.stdout)
    dead = tmp_path / f"headwater-{dead_pid}-m"
    alive = tmp_path / f"headwater-{os.getpid()}-m"
    other = tmp_path / "someone-else"
    for folder in (dead, alive, other):
        folder.mkdir()
    assert sweep_stale(tmp_path) == [dead]
    assert alive.exists() and other.exists()
