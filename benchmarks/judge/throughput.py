"""Judge throughput: judgements/s batched (concurrent requests) vs one by one, against the same served model.

    .venv/bin/python benchmarks/judge/throughput.py [--model smollm2-135m] [--items 32] [--concurrency 16] [--json]

Both runs use the same tasks, greedy decoding and max_tokens; target ≥ 4× on CPU.
"""

from __future__ import annotations

import argparse
import json
import time

from headwater.judge import AbsoluteTask, Judge
from headwater.models.openai_generator import OpenAIGenerator
from headwater.platform.launch import launch_server

RUBRIC = {1: "off-topic", 2: "mostly wrong", 3: "partly right", 4: "right with gaps", 5: "complete and right"}


def rate(base_url: str, model: str, tasks: list[AbsoluteTask], concurrency: int, max_tokens: int) -> float:
    generator = OpenAIGenerator(model, base_url, concurrency=concurrency)
    judge = Judge(generator, max_tokens=max_tokens, retries=0)
    started = time.perf_counter()
    judge.judge(tasks)
    elapsed = time.perf_counter() - started
    generator.close()
    return len(tasks) / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--items", type=int, default=32)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--data-dir", default=".headwater")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    tasks = [
        AbsoluteTask(f"Explain fact number {i} about rivers.", f"Rivers flow downhill ({i}).", "Accuracy", RUBRIC)
        for i in range(args.items)
    ]
    server = launch_server(args.model, args.data_dir)
    try:
        rate(server.base_url, args.model, tasks[:2], 2, 4)  # warm-up
        one_by_one = rate(server.base_url, args.model, tasks, 1, args.max_tokens)
        batched = rate(server.base_url, args.model, tasks, args.concurrency, args.max_tokens)
    finally:
        server.stop()
    figures = {
        "model": args.model,
        "items": args.items,
        "max_tokens": args.max_tokens,
        "one_by_one_per_s": round(one_by_one, 2),
        "batched_per_s": round(batched, 2),
        "concurrency": args.concurrency,
        "ratio": round(batched / one_by_one, 2),
    }
    if args.json:
        print(json.dumps(figures))
        return
    for key, value in figures.items():
        print(f"{key:<18} {value}")


if __name__ == "__main__":
    main()
