"""Prefix-aware routing vs least load: the shared-prefix prompt set (`headwater.platform.loadgen`) against one
model on 2 TEs, first with `policy: least_load` (or `--baseline round_robin`), then with `policy: prefix`; same
prompts, same arrivals.

    .venv/bin/python benchmarks/serving/routing.py [--model tiny-chat] [--prompts 64] [--groups 8] [--rate 8]
        [--prefix-words 170] [--kv-blocks 120] [--max-tokens 16] [--baseline least_load|round_robin] [--json]

Each TE's cache holds about half the prefixes (`--kv-blocks`), as in a real deployment where the prefixes outgrow
one TE: least load spreads every prefix over both TEs, which then evict each other's; prefix routing keeps each
prefix on one TE. Prints TTFT percentiles and throughput per policy and the p50 TTFT ratio least_load / prefix
(the spec's target for prefix-aware routing is ≥ 2× against round robin).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
from pathlib import Path

from headwater.models.loading import resolve_model
from headwater.platform.launch import launch_server
from headwater.platform.loadgen import LoadConfig, run_load, summarise


def _catalogue(folder: Path, source: str, policy: str) -> Path:
    path = folder / f"{policy}.yaml"
    entry = f"  - model: {source}\n    name: bench\n    min_tes: 2\n    max_tes: 2\n    policy: {policy}\n"
    path.write_text("models:\n" + entry)
    return path


def _measure(source: str, policy: str, args: argparse.Namespace, data_dir: Path) -> dict[str, object]:
    env = {
        "HEADWATER_MODELS": str(_catalogue(data_dir, source, policy)),
        "HEADWATER_POOL_SIZE": "0",
        "HEADWATER_KV_BLOCKS": str(args.kv_blocks),
    }
    server = launch_server(None, data_dir, env=env)
    try:
        config = LoadConfig(
            server.base_url,
            "bench",
            dataset="shared-prefix",
            num_prompts=args.prompts,
            request_rate=args.rate,
            max_output_tokens=args.max_tokens,
            max_prompt_words=args.prefix_words,
            prefix_groups=args.groups,
        )
        results, duration = asyncio.run(run_load(config))
        return summarise(results, duration, config)
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="tiny-chat")
    parser.add_argument("--prompts", type=int, default=64)
    parser.add_argument("--groups", type=int, default=8)
    parser.add_argument("--rate", type=float, default=8.0)
    parser.add_argument("--prefix-words", type=int, default=170)
    parser.add_argument("--kv-blocks", type=int, default=120)
    parser.add_argument("--max-tokens", type=int, default=16)
    parser.add_argument("--baseline", choices=("least_load", "round_robin"), default="least_load")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="headwater-routing-") as folder:
        source = resolve_model(args.model, ".headwater")
        runs = {policy: _measure(source, policy, args, Path(folder)) for policy in (args.baseline, "prefix")}
    p50 = {policy: run["ttft_s"]["p50"] for policy, run in runs.items()}  # type: ignore[index]
    ratio = p50[args.baseline] / p50["prefix"] if p50["prefix"] else float("nan")
    if args.json:
        print(json.dumps({"runs": runs, "p50_ttft_ratio": ratio}, indent=2))
        return
    for policy, run in runs.items():
        ttft = run["ttft_s"]
        print(
            f"{policy:>10}: TTFT p50 {ttft['p50'] * 1000:.0f} ms, p90 {ttft['p90'] * 1000:.0f} ms; "  # type: ignore[index]
            f"{run['request_throughput']:.2f} req/s; {run['completed']} ok, {run['failed']} failed"
        )
    print(f"p50 TTFT {args.baseline} / prefix: {ratio:.2f}x")


if __name__ == "__main__":
    main()
