"""ASTRAL throughput: tests/s end to end (write the test, run the target, label with the oracle), with 8 requests
in flight vs one at a time, every role played by the same served model.

    .venv/bin/python benchmarks/safety/astral_throughput.py [--model tiny-chat] [--tests 32] [--concurrency 8] [--json]

Both runs use the same plan, decoding settings and token limits; only the concurrency differs.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from headwater.models.generator import GenerationParams
from headwater.models.openai_generator import OpenAIGenerator
from headwater.platform.launch import launch_server
from headwater.safety.astral import GenerationOptions, Oracle, default_taxonomy, generate_tests, plan_tests, run_tests


def tests_per_second(base_url: str, model: str, plan: list[dict], concurrency: int, max_tokens: int) -> float:
    """End-to-end rate for one concurrency, into fresh files."""
    generator = OpenAIGenerator(model, base_url, concurrency=concurrency)
    params = GenerationParams(max_tokens=max_tokens, temperature=0.7, top_p=0.95, seed=0)
    with tempfile.TemporaryDirectory() as folder:
        tests_file, results_file = Path(folder) / "tests.jsonl", Path(folder) / "results.jsonl"
        options = GenerationOptions(batch_size=concurrency, params=params)
        started = time.perf_counter()
        generate_tests(plan, tests_file, generator, default_taxonomy(), options)
        tests = [json.loads(line) for line in tests_file.read_text().splitlines()]
        report = run_tests(
            tests,
            results_file,
            generator,
            Oracle(generator, retries=0),
            concurrency=concurrency,
            params=GenerationParams(max_tokens=max_tokens),
        )
        elapsed = time.perf_counter() - started
    generator.close()
    return report.ran / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="tiny-chat")
    parser.add_argument("--tests", type=int, default=32)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument("--data-dir", default=".headwater")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    plan = [test.to_dict() for test in plan_tests(default_taxonomy(), n=args.tests, seed=0)]
    server = launch_server(args.model, args.data_dir)
    try:
        tests_per_second(server.base_url, args.model, plan[:2], 2, 4)  # warm-up
        sequential = tests_per_second(server.base_url, args.model, plan, 1, args.max_tokens)
        concurrent = tests_per_second(server.base_url, args.model, plan, args.concurrency, args.max_tokens)
    finally:
        server.stop()
    figures = {
        "model": args.model,
        "tests": args.tests,
        "max_tokens": args.max_tokens,
        "sequential_tests_per_s": round(sequential, 2),
        "concurrent_tests_per_s": round(concurrent, 2),
        "concurrency": args.concurrency,
        "ratio": round(concurrent / sequential, 2),
    }
    if args.json:
        print(json.dumps(figures))
        return
    for key, value in figures.items():
        print(f"{key:<24} {value}")


if __name__ == "__main__":
    main()
