"""Job-system overhead: a no-op job's end-to-end time, and a batch's throughput vs the same requests sent directly.

    .venv/bin/python benchmarks/jobs/overhead.py [--model tiny-chat] [--lines 1000] [--concurrency 8]
        [--max-tokens 8] [--repeats 5] [--rounds 3] [--json]

The no-op job goes through everything a real job does (store rows, a spawned worker process, supervision,
events) around a task that does nothing; its baseline is a bare spawned process that does nothing. The batch
runs `--lines` chat requests through POST /v1/batches (`HEADWATER_BATCH_CONCURRENCY=--concurrency`); the
baseline sends the same requests with the same concurrency straight to /v1/chat/completions on the same server.
Batch and baseline alternate for `--rounds` rounds (which goes first alternates too) and the figure is the median of
the rounds' ratios: on a shared machine a single pair swings by 2× either way with the load.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from headwater.platform.jobs.records import JobStore, TaskSpec
from headwater.platform.jobs.workers import LocalWorkerRunner
from headwater.platform.launch import launch_server
from headwater.platform.store import Store


def _nothing() -> None:
    pass


def noop_job_seconds(repeats: int) -> tuple[float, float]:
    """Median seconds of a no-op job (create → succeeded) and of a bare spawned process."""
    with tempfile.TemporaryDirectory() as folder:
        store = Store(f"sqlite:///{folder}/jobs.db")
        runner = LocalWorkerRunner(JobStore(store), Path(folder) / "work", poll_s=0.01)
        task = TaskSpec("noop", "headwater.platform.jobs.builtin_tasks:noop", {})
        jobs, bare = [], []
        for _ in range(repeats):
            started = time.perf_counter()
            job = runner.jobs.create("bench", "noop", "none", {}, [task])
            assert runner.run(job.id).state == "succeeded"
            jobs.append(time.perf_counter() - started)
            started = time.perf_counter()
            process = multiprocessing.get_context("spawn").Process(target=_nothing)
            process.start()
            process.join()
            bare.append(time.perf_counter() - started)
        store.engine.dispose()
    return statistics.median(jobs), statistics.median(bare)


def _body(model: str, i: int, max_tokens: int) -> dict:
    messages = [{"role": "user", "content": f"Say something about the number {i}."}]
    return {"model": model, "messages": messages, "max_tokens": max_tokens, "temperature": 0}


def direct_seconds(base_url: str, bodies: list[dict], concurrency: int) -> float:
    with httpx.Client(timeout=300) as client, ThreadPoolExecutor(concurrency) as pool:
        started = time.perf_counter()
        codes = list(pool.map(lambda b: client.post(base_url + "/chat/completions", json=b).status_code, bodies))
        elapsed = time.perf_counter() - started
    assert set(codes) == {200}, codes
    return elapsed


def batch_seconds(base_url: str, bodies: list[dict]) -> float:
    lines = [
        {"custom_id": str(i), "method": "POST", "url": "/v1/chat/completions", "body": b} for i, b in enumerate(bodies)
    ]
    data = "\n".join(json.dumps(line) for line in lines).encode()
    with httpx.Client(base_url=base_url, timeout=300) as client:
        upload = client.post("/files", files={"file": ("b.jsonl", data)}, data={"purpose": "batch"}).json()
        started = time.perf_counter()
        body = {"input_file_id": upload["id"], "endpoint": "/v1/chat/completions", "completion_window": "24h"}
        batch = client.post("/batches", json=body).json()
        while batch["status"] not in ("completed", "failed", "cancelled"):
            time.sleep(0.05)
            batch = client.get(f"/batches/{batch['id']}").json()
        elapsed = time.perf_counter() - started
    assert batch["request_counts"]["completed"] == len(bodies), batch
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="tiny-chat")
    parser.add_argument("--lines", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--max-tokens", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3, help="alternating batch/direct pairs; the median ratio")
    parser.add_argument("--data-dir", default=".headwater")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    job_s, spawn_s = noop_job_seconds(args.repeats)
    env = {"HEADWATER_BATCH_CONCURRENCY": str(args.concurrency), "HEADWATER_POOL_SIZE": "0"}
    server = launch_server(args.model, args.data_dir, env=env)
    try:
        bodies = [_body(args.model, i, args.max_tokens) for i in range(args.lines)]
        direct_seconds(server.base_url, bodies[:8], 4)  # warm-up
        pairs = []
        for round_ in range(args.rounds):
            first_direct = round_ % 2 == 0
            if first_direct:
                direct = direct_seconds(server.base_url, bodies, args.concurrency)
            batch = batch_seconds(server.base_url, bodies)
            if not first_direct:
                direct = direct_seconds(server.base_url, bodies, args.concurrency)
            pairs.append((direct, batch))
    finally:
        server.stop()
    direct, batch = (statistics.median(times) for times in zip(*pairs, strict=True))
    ratios = [round(d / b, 2) for d, b in pairs]
    figures = {
        "noop_job_s": round(job_s, 3),
        "bare_spawn_s": round(spawn_s, 3),
        "noop_job_vs_spawn": round(job_s / spawn_s, 2),
        "lines": args.lines,
        "direct_per_s": round(args.lines / direct, 1),
        "batch_per_s": round(args.lines / batch, 1),
        "batch_vs_direct": round(statistics.median(ratios), 2),
        "batch_vs_direct_rounds": ratios,
    }
    if args.json:
        print(json.dumps(figures))
        return
    print(f"no-op job end to end: {job_s:.3f} s (a bare spawned process: {spawn_s:.3f} s, {job_s / spawn_s:.2f}×)")
    print(
        f"{args.lines}-line batch: {figures['batch_per_s']} req/s vs direct {figures['direct_per_s']} req/s "
        f"({figures['batch_vs_direct']}×, median of rounds {ratios}; concurrency {args.concurrency}, "
        f"{args.max_tokens} tokens)"
    )


if __name__ == "__main__":
    main()
