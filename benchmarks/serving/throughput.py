"""Serving throughput: 32 concurrent streams through the HTTP API vs the same prompts one by one with
`model.generate`, and the gateway's overhead vs driving the same engine in-process. Same model, same run.

    .venv/bin/python benchmarks/serving/throughput.py [--model smollm2-135m] [--streams 32] [--max-tokens 64]

Prints tokens/s of each path and the ratios (targets: HTTP ≥ 5× sequential, gateway overhead ≤ 10%).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time

import httpx
import torch

from headwater.engine.protocol import EngineRequest, SamplingParams
from headwater.engine.transformers_engine import EngineConfig, TransformersEngine
from headwater.models.loading import load_model, load_tokenizer
from headwater.platform.launch import launch_server

TOPICS = [
    "rivers",
    "the moon",
    "bread",
    "chess",
    "volcanoes",
    "bees",
    "trains",
    "glaciers",
    "owls",
    "tea",
    "bridges",
    "comets",
    "maps",
    "salt",
    "kites",
    "coral",
]


def prompts(count: int) -> list[list[dict[str, str]]]:
    return [
        [{"role": "user", "content": f"Write a few sentences about {TOPICS[i % len(TOPICS)]} (#{i})."}]
        for i in range(count)
    ]


def sequential_generate(model_name: str, data_dir: str, chats, max_tokens: int) -> tuple[int, float]:
    model, tokenizer = load_model(model_name, data_dir=data_dir), load_tokenizer(model_name, data_dir=data_dir)
    total, started = 0, time.perf_counter()
    with torch.no_grad():
        for chat in chats:
            ids = tokenizer.apply_chat_template(chat, add_generation_prompt=True, return_tensors="pt", return_dict=True)
            out = model.generate(**ids, max_new_tokens=max_tokens, do_sample=False, pad_token_id=tokenizer.pad_token_id)
            total += out.shape[1] - ids["input_ids"].shape[1]
    return total, time.perf_counter() - started


def in_process_engine(model_name: str, data_dir: str, chats, max_tokens: int) -> tuple[int, float]:
    model, tokenizer = load_model(model_name, data_dir=data_dir), load_tokenizer(model_name, data_dir=data_dir)
    engine = TransformersEngine(model, [tokenizer.eos_token_id], EngineConfig())
    engine.start()
    requests = [
        EngineRequest(
            f"r{i}",
            list(tokenizer.apply_chat_template(chat, add_generation_prompt=True, return_dict=True)["input_ids"]),
            SamplingParams(max_tokens=max_tokens, temperature=0),
        )
        for i, chat in enumerate(chats)
    ]
    started = time.perf_counter()
    for request in requests:
        engine.add_request(request)
    total, finished = 0, 0
    while finished < len(requests):
        for output in engine.get_outputs(0.5):
            total += len(output.token_ids)
            finished += output.finish_reason is not None
    elapsed = time.perf_counter() - started
    engine.shutdown()
    return total, elapsed


async def http_streams(base_url: str, model: str, chats, max_tokens: int) -> tuple[int, float, list[float]]:
    async def one(client: httpx.AsyncClient, chat) -> tuple[int, float]:
        body = {
            "model": model,
            "messages": chat,
            "max_tokens": max_tokens,
            "temperature": 0,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        sent, ttft, tokens = time.perf_counter(), None, 0
        async with client.stream("POST", "/chat/completions", json=body) as response:
            response.raise_for_status()
            async for line in response.aiter_lines():
                if not line.startswith("data: ") or line == "data: [DONE]":
                    continue
                chunk = json.loads(line[6:])
                if ttft is None and chunk["choices"] and chunk["choices"][0]["delta"].get("content"):
                    ttft = time.perf_counter() - sent
                if chunk.get("usage"):
                    tokens = chunk["usage"]["completion_tokens"]
        return tokens, ttft or 0.0

    limits = httpx.Limits(max_connections=len(chats))
    async with httpx.AsyncClient(base_url=base_url, timeout=600, limits=limits) as client:
        started = time.perf_counter()
        results = await asyncio.gather(*(one(client, chat) for chat in chats))
    return sum(t for t, _ in results), time.perf_counter() - started, sorted(ttft for _, ttft in results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--streams", type=int, default=32)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--data-dir", default=os.environ.get("HEADWATER_DATA_DIR", ".headwater"))
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    chats = prompts(args.streams)
    load_model(args.model, data_dir=args.data_dir)  # converts built-ins once, outside the timings

    seq_tokens, seq_s = sequential_generate(args.model, args.data_dir, chats, args.max_tokens)
    eng_tokens, eng_s = in_process_engine(args.model, args.data_dir, chats, args.max_tokens)
    server = launch_server(args.model, args.data_dir)
    base_url = server.base_url
    try:
        asyncio.run(http_streams(base_url, args.model, chats[:2], 4))  # warm the connection pool
        http_tokens, http_s, ttfts = asyncio.run(http_streams(base_url, args.model, chats, args.max_tokens))
    finally:
        server.stop()

    seq_rate, eng_rate, http_rate = seq_tokens / seq_s, eng_tokens / eng_s, http_tokens / http_s
    figures = {
        "model": args.model,
        "streams": args.streams,
        "max_tokens": args.max_tokens,
        "cpu_threads": torch.get_num_threads(),
        "sequential_generate_tok_s": round(seq_rate, 1),
        "engine_in_process_tok_s": round(eng_rate, 1),
        "http_api_tok_s": round(http_rate, 1),
        "http_vs_sequential_ratio": round(http_rate / seq_rate, 2),
        "gateway_overhead_pct": round((eng_rate / http_rate - 1) * 100, 1),
        "http_ttft_p50_s": round(ttfts[len(ttfts) // 2], 3),
    }
    if args.json:
        print(json.dumps(figures))
        return
    width = max(len(key) for key in figures)
    for key, value in figures.items():
        print(f"{key:<{width}}  {value}")


if __name__ == "__main__":
    main()
