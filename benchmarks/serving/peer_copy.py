"""k TEs of one model brought up from a running peer vs k independent disk loads: time and memory.

    .venv/bin/python benchmarks/serving/peer_copy.py [--model smollm2-135m] [--tes 4] [--json]

Both cases bind k pooled TEs (processes warm, no model) at once, so only the weight load differs:
- `peer`: one TE of the model already runs and has published its weights to /dev/shm
  (headwater.engine.weights.SharedMemoryWeights); the k new TEs map that copy.
- `disk`: each of the k TEs loads its own fresh copy of the model folder with its pages dropped from the page
  cache (`posix_fadvise(DONTNEED)`; one copy per TE, as k pods on k nodes would each read their disk; one folder
  read by all would let the page cache share it).
Prints the wall time of the k binds, the mean `weight_load` phase the TEs report, and memory: the sum of the
TEs' PSS (/proc/PID/smaps_rollup: shared pages split among their users) and of the PSS of the weight files they
map (/proc/PID/smaps), with the ratios disk / peer.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from headwater.engine.ipc import ModelSpec
from headwater.engine.weights import mapped_memory, process_pss_kb, weight_files
from headwater.models.loading import resolve_model
from headwater.platform.executors.local import LocalTaskExecutor


def drop_cached(folder: Path) -> None:
    for path in weight_files(folder):
        with path.open("rb") as handle:
            os.fsync(handle.fileno())
            os.posix_fadvise(handle.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)


async def bind_all(specs: list[ModelSpec], folders: list[Path]) -> dict[str, float]:
    """Start len(specs) pooled TEs, bind them all at once, measure, stop them."""
    executors = [LocalTaskExecutor(600.0) for _ in specs]
    try:
        await asyncio.gather(*(executor.start() for executor in executors))
        started = time.perf_counter()
        await asyncio.gather(
            *(e.bind(spec, f"bench/{i}") for i, (e, spec) in enumerate(zip(executors, specs, strict=True)))
        )
        wall = time.perf_counter() - started
        pids = [executor.pid for executor in executors if executor.pid is not None]
        return {
            "bind_wall_s": wall,
            "weight_load_s": statistics.fmean(executor.phases["weight_load"] for executor in executors),
            "pss_mb": sum(process_pss_kb(pid) for pid in pids) / 1024,
            "weights_pss_mb": sum(mapped_memory(pid, folder).pss_kb for pid, folder in zip(pids, folders, strict=True))
            / 1024,
            "sources": [executor.weights_source for executor in executors],  # type: ignore[dict-item]
        }
    finally:
        await asyncio.gather(*(executor.stop() for executor in executors))


async def peer_case(source: str, k: int, work: Path) -> dict[str, float]:
    shared = work / "shm"
    spec = ModelSpec(source, shared_weights=str(shared))
    running = LocalTaskExecutor(600.0)
    await running.start(spec)  # the running peer: it published the weights
    try:
        result = await bind_all([spec] * k, [shared] * k)
        result["peer_pss_mb"] = process_pss_kb(running.pid or 0) / 1024  # after the k joined it
        return result
    finally:
        await running.stop()


async def disk_case(source: str, k: int, work: Path) -> dict[str, float]:
    folders = []
    for index in range(k):
        folder = work / f"copy-{index}"
        shutil.copytree(source, folder)
        drop_cached(folder)
        folders.append(folder)
    return await bind_all([ModelSpec(str(folder)) for folder in folders], folders)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--tes", type=int, default=4)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    source = resolve_model(args.model, os.environ.get("HEADWATER_DATA_DIR", ".headwater"))
    model_mb = sum(path.stat().st_size for path in weight_files(source)) / 1e6
    with tempfile.TemporaryDirectory(dir="/dev/shm") as shm, tempfile.TemporaryDirectory() as disk:
        disk_result = asyncio.run(disk_case(source, args.tes, Path(disk)))
        peer_result = asyncio.run(peer_case(source, args.tes, Path(shm)))
    report = {
        "model": args.model,
        "tes": args.tes,
        "weights_mb": model_mb,
        "disk": disk_result,
        "peer": peer_result,
        "bind_time_disk_over_peer": disk_result["bind_wall_s"] / peer_result["bind_wall_s"],
        "pss_disk_over_peer": disk_result["pss_mb"] / peer_result["pss_mb"],
        "weights_pss_disk_over_peer": disk_result["weights_pss_mb"] / max(peer_result["weights_pss_mb"], 1e-9),
    }
    if args.json:
        print(json.dumps(report))
        return
    print(f"{args.model}: {args.tes} TEs, weights {model_mb:.1f} MB")
    for name in ("disk", "peer"):
        result = report[name]
        print(
            f"  {name:>4}: binds {result['bind_wall_s']:.2f} s (weight load {result['weight_load_s']:.2f} s each), "
            f"sum PSS {result['pss_mb']:.0f} MB, of it weights {result['weights_pss_mb']:.0f} MB; "
            f"sources {result['sources']}"
        )
    print(f"  the running peer itself (its share of the weights included): {peer_result['peer_pss_mb']:.0f} MB PSS")
    print(
        f"  disk / peer: bind time {report['bind_time_disk_over_peer']:.2f}x, "
        f"sum PSS {report['pss_disk_over_peer']:.2f}x, weights PSS {report['weights_pss_disk_over_peer']:.1f}x"
    )


if __name__ == "__main__":
    main()
