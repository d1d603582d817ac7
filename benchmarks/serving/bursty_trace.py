"""A bursty trace against a serverless model: idle → burst → idle, with TEs and the queue over time.

    .venv/bin/python benchmarks/serving/bursty_trace.py [--model tiny-chat] [--max-tes 4] [--burst 48]
        [--rate 8] [--idle-before 5] [--idle-after 25] [--pool 1] [--chart benchmarks/serving/bursty_trace.png] [--json]

A server serves the model at `min_tes: 0` (`max_tes`, a short `idle_timeout_s`, `--pool` pooled TEs, filled before
the trace starts). After `idle-before` seconds of nothing, `burst` requests arrive as a Poisson process at `rate`
per second (the load generator of headwater.platform.loadgen), then nothing for `idle-after` seconds. Every 0.25 s
the script reads `GET /v1/admin/executors` (TEs of the model, their in-flight requests, the pool). Prints p50/p99
TTFT (the first requests include the scale-from-zero), the most TEs, and the TE-seconds the trace used against an
always-on deployment of `max_tes` TEs over the same time; draws TEs and queue over time to a PNG. The queue is what
the client sees: requests sent and still without a first token (activator + engine queues), reconstructed from each
request's arrival time and TTFT.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from headwater.models.loading import resolve_model
from headwater.platform.launch import launch_server
from headwater.platform.loadgen import LoadConfig, arrival_delays, run_load, summarise


def sample(base_url: str, started: float, stop: threading.Event, out: list[dict[str, float]]) -> None:
    """Every 0.25 s: seconds since `started`, TEs of the model (all states), TEs ready, in flight, pooled."""
    with httpx.Client(timeout=10) as client:
        while not stop.is_set():
            try:
                state = client.get(base_url + "/admin/executors").json()
            except httpx.HTTPError:  # a gateway busy with the burst: skip this sample
                continue
            tes = state["models"][0]["tes"]
            out.append(
                {
                    "t": time.perf_counter() - started,
                    "tes": len(tes),
                    "ready": sum(te["state"] == "ready" for te in tes),
                    "in_flight": sum(te["in_flight"] for te in tes),
                    "pooled": len(state["pool"]),
                }
            )
            stop.wait(0.25)


def te_seconds(samples: list[dict[str, float]], key: str = "tes") -> float:
    """TEs (of the model, or `pooled`) integrated over the trace (each sample holds until the next)."""
    return sum(a[key] * (b["t"] - a["t"]) for a, b in itertools.pairwise(samples))


def wait_for_pool(base_url: str, size: int, timeout_s: float = 300.0) -> None:
    """The trace starts from the steady idle state: the pool filled."""
    deadline = time.monotonic() + timeout_s
    while len(httpx.get(base_url + "/admin/executors", timeout=10).json()["pool"]) < size:
        if time.monotonic() > deadline:
            raise RuntimeError("the pool did not fill")
        time.sleep(0.5)


def queue_over_time(arrivals: list[float], ttfts: list[float], times: list[float]) -> list[int]:
    """Requests arrived and still without a first token at each time."""
    return [sum(a <= t < a + ttft for a, ttft in zip(arrivals, ttfts, strict=True)) for t in times]


def draw(samples: list[dict[str, float]], queue: list[int], burst: tuple[float, float], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    times = [s["t"] for s in samples]
    figure, (top, bottom) = plt.subplots(2, 1, sharex=True, figsize=(8, 5))
    top.step(times, [s["tes"] for s in samples], where="post", label="TEs of the model")
    top.step(times, [s["ready"] for s in samples], where="post", label="ready", linestyle="--")
    top.set_ylabel("task executors")
    top.legend(loc="upper right")
    bottom.step(times, queue, where="post", label="waiting for a first token", color="tab:red")
    bottom.step(times, [s["in_flight"] for s in samples], where="post", label="in flight on TEs", color="tab:green")
    bottom.set_ylabel("requests")
    bottom.set_xlabel("seconds")
    bottom.legend(loc="upper right")
    for axis in (top, bottom):
        axis.axvspan(*burst, color="tab:orange", alpha=0.12)
    figure.suptitle("Bursty trace: idle → burst → idle (shaded: arrivals)")
    figure.tight_layout()
    figure.savefig(path, dpi=100)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="tiny-chat")
    parser.add_argument("--max-tes", type=int, default=4)
    parser.add_argument("--burst", type=int, default=48, help="requests in the burst")
    parser.add_argument("--rate", type=float, default=8.0, help="requests per second during the burst")
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument("--idle-before", type=float, default=5.0)
    parser.add_argument("--idle-after", type=float, default=25.0)
    parser.add_argument("--idle-timeout", type=float, default=5.0, help="idle_timeout_s of the model")
    parser.add_argument("--pool", type=int, default=1, help="HEADWATER_POOL_SIZE (pre-warmed TEs)")
    parser.add_argument("--chart", type=Path, default=Path("benchmarks/serving/bursty_trace.png"))
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    source = resolve_model(args.model, os.environ.get("HEADWATER_DATA_DIR", ".headwater"))
    with tempfile.TemporaryDirectory() as folder:
        catalogue = Path(folder) / "models.yaml"
        catalogue.write_text(
            f"models:\n  - model: {source}\n    name: bursty\n    min_tes: 0\n    max_tes: {args.max_tes}\n"
            f"    idle_timeout_s: {args.idle_timeout}\n    target_in_flight: 4\n"
        )
        env = {
            "HEADWATER_MODELS": str(catalogue),
            "HEADWATER_POOL_SIZE": str(args.pool),
            "HEADWATER_AUTOSCALE_PERIOD_S": "0.25",
        }
        server = launch_server(None, folder, env=env)
        try:
            wait_for_pool(server.base_url, args.pool)
            report = run_trace(server.base_url, args)
        finally:
            server.stop()
    if args.json:
        print(json.dumps(report))
        return
    ttft = report["summary"]["ttft_s"]
    print(f"{args.model}: {args.burst} requests at {args.rate}/s after {args.idle_before} s idle, then idle")
    print(f"  completed {report['summary']['completed']}, failed {report['summary']['failed']}")
    print(f"  TTFT p50 {ttft['p50']:.2f} s, p99 {ttft['p99']:.2f} s; most TEs {report['most_tes']}")
    print(
        f"  TE-seconds {report['te_seconds']:.1f} vs always-on {args.max_tes} TEs {report['always_on_te_seconds']:.1f}"
        f" over {report['duration_s']:.1f} s: {report['te_seconds_ratio']:.2f}x of always-on"
    )
    print(f"  with the pool's {report['pooled_te_seconds']:.1f} TE-seconds: {report['with_pool_ratio']:.2f}x")
    print(f"  chart: {args.chart}")


def run_trace(base_url: str, args: argparse.Namespace) -> dict[str, Any]:
    config = LoadConfig(
        base_url, "bursty", num_prompts=args.burst, request_rate=args.rate, max_output_tokens=args.max_tokens,
        max_prompt_words=60, seed=0,
    )  # fmt: skip
    samples: list[dict[str, float]] = []
    stop = threading.Event()
    started = time.perf_counter()
    sampler = threading.Thread(target=sample, args=(base_url, started, stop, samples), daemon=True)
    sampler.start()
    time.sleep(args.idle_before)
    burst_start = time.perf_counter() - started
    results, burst_s = asyncio.run(run_load(config))
    time.sleep(args.idle_after)
    stop.set()
    sampler.join()
    arrivals = list(itertools.accumulate(arrival_delays(config), initial=burst_start))[1:]
    queue = queue_over_time(arrivals, [r.ttft_s if r.ok else 0.0 for r in results], [s["t"] for s in samples])
    draw(samples, queue, (burst_start, arrivals[-1]), args.chart)
    duration = samples[-1]["t"]
    used, pooled = te_seconds(samples), te_seconds(samples, "pooled")
    return {
        "model": args.model,
        "summary": summarise(results, burst_s, config),
        "most_tes": max(s["tes"] for s in samples),
        "te_seconds": used,
        "always_on_te_seconds": args.max_tes * duration,
        "te_seconds_ratio": used / (args.max_tes * duration),
        "pooled_te_seconds": pooled,
        "with_pool_ratio": (used + pooled) / (args.max_tes * duration),
        "duration_s": duration,
        "samples": samples,
        "queue": queue,
    }


if __name__ == "__main__":
    main()
