"""Fair sharing: a small tenant's 8-token requests while another tenant floods the server with one request of
256 sequences, with the gateway's fair queue (today's defaults) and without it (every sequence sent straight to
the engine, as before: `HEADWATER_ENGINE_MAX_SEQUENCES` huge, share 1). Same model, same run.

    .venv/bin/python benchmarks/serving/fairness.py [--model tiny-chat] [--prompts 32] [--n 8] [--max-tokens 32]

Prints, for each setting, the flood's duration and the small requests' latencies, and the ratio of the slowest
small request to the flood (target ≤ 0.1: each finishes within 10 % of the flood's duration, not behind it).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import httpx

from headwater.models.loading import resolve_model
from headwater.platform.launch import launch_server
from headwater.platform.store import Store

UNFAIR = {"HEADWATER_ENGINE_MAX_SEQUENCES": "1000000", "HEADWATER_TENANT_ENGINE_SHARE": "1.0"}


def _keys(data_dir: Path) -> tuple[str, str]:
    store = Store(f"sqlite:///{data_dir / 'headwater.db'}")
    try:
        return store.create_api_key("flood")[1], store.create_api_key("small")[1]
    finally:
        store.engine.dispose()


async def _measure(base_url: str, model: str, keys: tuple[str, str], args: argparse.Namespace) -> dict[str, object]:
    flood_key, small_key = keys
    flood_body = {
        "model": model,
        "prompt": [f"Story number {i}:" for i in range(args.prompts)],
        "n": args.n,
        "max_tokens": args.max_tokens,
        "temperature": 1.0,
        "seed": 1,
    }
    small_body = {"model": model, "prompt": "Hello", "max_tokens": 8, "temperature": 0}
    async with httpx.AsyncClient(base_url=base_url, timeout=900) as client:
        await client.post("/completions", json=small_body, headers={"Authorization": f"Bearer {small_key}"})
        started = time.perf_counter()
        flood = asyncio.create_task(
            client.post("/completions", json=flood_body, headers={"Authorization": f"Bearer {flood_key}"})
        )
        latencies = []
        await asyncio.sleep(0.5)  # the flood is admitted and queued first
        while not flood.done():
            sent = time.perf_counter()
            response = await client.post(
                "/completions", json=small_body, headers={"Authorization": f"Bearer {small_key}"}
            )
            response.raise_for_status()
            latencies.append(time.perf_counter() - sent)
            await asyncio.sleep(0.2)
        (await flood).raise_for_status()
        duration = time.perf_counter() - started
    return {
        "flood_s": round(duration, 2),
        "small_requests": len(latencies),
        "small_p50_s": round(statistics.median(latencies), 3) if latencies else None,
        "small_max_s": round(max(latencies), 3) if latencies else None,
        "small_max_over_flood": round(max(latencies) / duration, 3) if latencies else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="tiny-chat")
    parser.add_argument("--prompts", type=int, default=32)
    parser.add_argument("--n", type=int, default=8)
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    # Built-in weights are converted once into the usual data folder; each server gets a fresh store beside them.
    model = resolve_model(args.model, os.environ.get("HEADWATER_DATA_DIR", ".headwater"))
    results = {}
    for name, env in (("without fair queue", UNFAIR), ("with fair queue", {})):
        with tempfile.TemporaryDirectory() as folder:
            data_dir = Path(folder)
            keys = _keys(data_dir)
            server = launch_server(model, data_dir, auth=True, env=env)
            try:
                results[name] = asyncio.run(_measure(server.base_url, model, keys, args))
            finally:
                server.stop()
    if args.json:
        print(json.dumps({"sequences": args.prompts * args.n, **results}))
        return
    print(f"flood: one request of {args.prompts} prompts x n={args.n} = {args.prompts * args.n} sequences")
    for name, figures in results.items():
        print(f"{name:>20}: " + ", ".join(f"{key} {value}" for key, value in figures.items()))
    print("target: small_max_over_flood <= 0.1 with the fair queue")


if __name__ == "__main__":
    main()
