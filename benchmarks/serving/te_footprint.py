"""Start-up to first answer and resident memory of one TE, per engine backend (transformers, llamacpp).

    .venv/bin/python benchmarks/serving/te_footprint.py [--engines transformers llamacpp] [--data-dir .headwater]
        [--json]

For each backend a fresh `headwater serve` hosts `smollm2-135m` on one TE (transformers: the float32 weights
converted from the shipped GGUF, converted once beforehand into the data folder; llamacpp: the shipped Q4_1 GGUF as
it is). It prints the seconds from the launch to a healthy server (a ready TE) and to the first answer of a short
chat request, and the TE process's resident memory (VmRSS from /proc, after that answer: Linux only), with its
anonymous part (the process's own), its file-backed part (memory-mapped files: the GGUF) and its shared-memory part
(weights shared through /dev/shm with the model's other TEs on the host), and the ratios transformers / llamacpp.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx

from headwater.platform.launch import launch_server


def _rss_mib(pid: int) -> dict[str, float]:
    """VmRSS and its parts RssAnon, RssFile and RssShmem (weights shared through /dev/shm) in MiB, from
    /proc/PID/status."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "RssAnon", "RssFile", "RssShmem"):
            fields[key] = int(value.split()[0]) / 1024
    return fields


@dataclass
class Footprint:
    """One backend's TE: seconds from launch to a ready TE and to the first answer, and its memory in MiB."""

    ready_s: float
    first_answer_s: float
    te_rss_mib: dict[str, float]


def _measure(engine: str, folder: Path, data_dir: Path) -> Footprint:
    folder.mkdir(parents=True, exist_ok=True)
    catalogue = folder / f"{engine}.yaml"
    catalogue.write_text(f"models:\n  - model: smollm2-135m\n    name: bench\n    engine: {engine}\n")
    env = {"HEADWATER_MODELS": str(catalogue), "HEADWATER_POOL_SIZE": "0"}
    started = time.perf_counter()
    server = launch_server(None, data_dir, env=env, log=folder / "server.log")
    try:
        ready_s = time.perf_counter() - started
        body = {"model": "bench", "messages": [{"role": "user", "content": "Hi!"}], "max_tokens": 8}
        httpx.post(f"{server.base_url}/chat/completions", json=body, timeout=120).raise_for_status()
        answer_s = time.perf_counter() - started
        health = httpx.get(server.base_url.removesuffix("/v1") + "/health", timeout=10).json()
        pids = [te["pid"] for te in health["models"]["bench"] if te["ready"]]
        memory = _rss_mib(pids[0])
    finally:
        server.stop()
    return Footprint(ready_s, answer_s, memory)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engines", nargs="+", default=["transformers", "llamacpp"])
    parser.add_argument("--data-dir", type=Path, default=Path(".headwater"), help="Where the built-ins are kept.")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="headwater-te-footprint-") as folder:
        runs = {engine: _measure(engine, Path(folder) / engine, args.data_dir) for engine in args.engines}
    if args.json:
        print(json.dumps({engine: asdict(run) for engine, run in runs.items()}, indent=2))
        return
    for engine, run in runs.items():
        memory = run.te_rss_mib
        print(
            f"{engine:>12}: ready {run.ready_s:.1f} s, first answer {run.first_answer_s:.1f} s, TE RSS "
            f"{memory['VmRSS']:.0f} MiB (anonymous {memory['RssAnon']:.0f}, file-backed {memory['RssFile']:.0f}, "
            f"shared memory {memory['RssShmem']:.0f})"
        )
    if {"transformers", "llamacpp"} <= runs.keys():
        slow, fast = runs["transformers"], runs["llamacpp"]
        print(
            f"transformers / llamacpp: first answer {slow.first_answer_s / fast.first_answer_s:.1f}x, "
            f"TE RSS {slow.te_rss_mib['VmRSS'] / fast.te_rss_mib['VmRSS']:.1f}x"
        )


if __name__ == "__main__":
    main()
