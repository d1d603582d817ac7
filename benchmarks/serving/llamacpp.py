"""Our llama.cpp engine vs our transformers engine, the same model (SmolLM2-135M) behind the same gateway.

    .venv/bin/python benchmarks/serving/llamacpp.py [--concurrency 1 8 32] [--prompts 32] [--max-tokens 64]
        [--prompt-words 24] [--llamacpp-kv streams|unified] [--data-dir .headwater] [--json]

Each backend serves `smollm2-135m` from one TE (transformers: the float32 weights converted from the shipped GGUF;
llamacpp: the shipped Q4_1 GGUF as it is); for each concurrency level `--prompts` ShareGPT-like chat requests run at
that fixed concurrency. Prints output tokens/s per level and backend, the ratio llamacpp / transformers (the
issue's expectation: ≥ 2× at 32 streams), and each TE's start-up to ready.
The comparison with llama.cpp's own `llama-server` needs that binary, which this repository does not build: see
docs/serving.md ("llama.cpp engine") for how it was measured.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from pathlib import Path

from headwater.platform.launch import launch_server
from headwater.platform.loadgen import LoadConfig, run_load, summarise


def _serve(engine: str, folder: Path, data_dir: Path, max_sequences: int, kv: str) -> tuple[object, float]:
    folder.mkdir(parents=True, exist_ok=True)
    catalogue = folder / f"{engine}.yaml"
    catalogue.write_text(f"models:\n  - model: smollm2-135m\n    name: bench\n    engine: {engine}\n")
    env = {
        "HEADWATER_MODELS": str(catalogue),
        "HEADWATER_POOL_SIZE": "0",
        "HEADWATER_ENGINE_MAX_SEQUENCES": str(max_sequences),
        "HEADWATER_KV_BLOCKS": "512",
        "HEADWATER_LLAMACPP_KV": kv,
    }
    started = time.perf_counter()
    server = launch_server(None, data_dir, env=env)
    return server, time.perf_counter() - started


def _measure(engine: str, args: argparse.Namespace, folder: Path) -> dict[str, object]:
    server, start_s = _serve(engine, folder, args.data_dir, max(args.concurrency), args.llamacpp_kv)
    levels = {}
    try:
        for concurrency in args.concurrency:
            config = LoadConfig(
                server.base_url,  # type: ignore[attr-defined]
                "bench",
                num_prompts=max(args.prompts, concurrency),
                max_concurrency=concurrency,
                max_output_tokens=args.max_tokens,
                max_prompt_words=args.prompt_words,
            )
            results, duration = asyncio.run(run_load(config))
            levels[concurrency] = summarise(results, duration, config)
    finally:
        server.stop()  # type: ignore[attr-defined]
    return {"start_s": start_s, "levels": levels}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--prompts", type=int, default=32)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument(
        "--prompt-words", type=int, default=24, help="Cap on prompt length: short, so decode dominates."
    )
    parser.add_argument("--llamacpp-kv", choices=("streams", "unified"), default="streams")
    parser.add_argument("--data-dir", type=Path, default=Path(".headwater"), help="Where the built-ins are kept.")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="headwater-llamacpp-") as folder:
        runs = {engine: _measure(engine, args, Path(folder) / engine) for engine in ("transformers", "llamacpp")}
    if args.json:
        print(json.dumps(runs, indent=2))
        return
    for engine, run in runs.items():
        print(f"{engine:>12}: start-up to ready {run['start_s']:.1f} s")
    for concurrency in args.concurrency:
        speeds = {engine: run["levels"][concurrency]["output_throughput"] for engine, run in runs.items()}  # type: ignore[index]
        print(
            f"{concurrency:>3} streams: transformers {speeds['transformers']:.1f} tok/s, llamacpp "
            f"{speeds['llamacpp']:.1f} tok/s, ratio {speeds['llamacpp'] / speeds['transformers']:.2f}x"
        )


if __name__ == "__main__":
    main()
