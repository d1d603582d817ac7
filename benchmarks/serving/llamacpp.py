"""Our llama.cpp engine vs our transformers engine, the same model (SmolLM2-135M) behind the same gateway.

    .venv/bin/python benchmarks/serving/llamacpp.py [--concurrency 1 8 32] [--prompts 32] [--max-tokens 64]
        [--prompt-words 24] [--llamacpp-kv streams|unified] [--llama-server PATH] [--data-dir .headwater] [--json]

Each backend serves `smollm2-135m` from one TE (transformers: the float32 weights converted from the shipped GGUF;
llamacpp: the shipped Q4_1 GGUF as it is); for each concurrency level `--prompts` ShareGPT-like chat requests run at
that fixed concurrency. Prints output tokens/s per level and backend, the ratio llamacpp / transformers (the
issue's expectation: ≥ 2× at 32 streams), and each TE's start-up to ready.
With `--llama-server PATH` (llama.cpp's own server binary, which this repository does not build: see
benchmarks/README.md for the cmake line) the same load also runs against it, serving the same GGUF with one slot
per stream of the highest level (`-np`), the same KV cells and threads, and the ratio ours / llama-server is
printed per level (the issue's target: ≥ 0.9×); without it that comparison is skipped with the reason.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import tempfile
import time
from pathlib import Path

import httpx

from headwater.models.gguf import resolve_gguf
from headwater.platform.launch import free_port, launch_server
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


def _levels(base_url: str, model: str, args: argparse.Namespace) -> dict[int, dict[str, object]]:
    """Output throughput and latencies of the same prompt set at each concurrency level."""
    levels = {}
    for concurrency in args.concurrency:
        config = LoadConfig(
            base_url,
            model,
            num_prompts=max(args.prompts, concurrency),
            max_concurrency=concurrency,
            max_output_tokens=args.max_tokens,
            max_prompt_words=args.prompt_words,
        )
        results, duration = asyncio.run(run_load(config))
        levels[concurrency] = summarise(results, duration, config)
    return levels


def _measure(engine: str, args: argparse.Namespace, folder: Path) -> dict[str, object]:
    server, start_s = _serve(engine, folder, args.data_dir, max(args.concurrency), args.llamacpp_kv)
    try:
        levels = _levels(server.base_url, "bench", args)  # type: ignore[attr-defined]
    finally:
        server.stop()  # type: ignore[attr-defined]
    return {"start_s": start_s, "levels": levels}


def _measure_llama_server(binary: Path, args: argparse.Namespace, folder: Path) -> dict[str, object]:
    """llama.cpp's own server over the shipped GGUF: `-np` slots for the highest level, the cells our TE has."""
    port, slots = free_port(), max(args.concurrency)
    command = [str(binary), "-m", str(resolve_gguf("smollm2-135m")), "--host", "127.0.0.1", "--port", str(port)]
    command += ["-np", str(slots), "-c", str(512 * 32), "-t", str(os.cpu_count() or 1), "-cb"]
    folder.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=(folder / "llama-server.log").open("wb"))
    try:
        while not _healthy(port):
            if process.poll() is not None:
                raise RuntimeError(f"llama-server exited; see {folder / 'llama-server.log'}")
            time.sleep(0.2)
        start_s = time.perf_counter() - started
        levels = _levels(f"http://127.0.0.1:{port}/v1", "smollm2-135m", args)
    finally:
        process.terminate()
        process.wait(30)
    return {"start_s": start_s, "levels": levels}


def _healthy(port: int) -> bool:
    """Whether the server on the port answers its /health with 200 (503 while it loads the model)."""
    try:
        return httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--prompts", type=int, default=32)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument(
        "--prompt-words", type=int, default=24, help="Cap on prompt length: short, so decode dominates."
    )
    parser.add_argument("--llamacpp-kv", choices=("streams", "unified"), default="streams")
    parser.add_argument(
        "--engines", nargs="+", choices=("transformers", "llamacpp"), default=["transformers", "llamacpp"]
    )
    parser.add_argument("--llama-server", type=Path, help="llama.cpp's llama-server binary, to compare against.")
    parser.add_argument("--data-dir", type=Path, default=Path(".headwater"), help="Where the built-ins are kept.")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    skipped = _why_no_llama_server(args.llama_server)
    with tempfile.TemporaryDirectory(prefix="headwater-llamacpp-") as folder:
        runs = {engine: _measure(engine, args, Path(folder) / engine) for engine in args.engines}
        if skipped is None:
            runs["llama-server"] = _measure_llama_server(args.llama_server, args, Path(folder) / "llama-server")
    if args.json:
        print(json.dumps({**runs, "llama_server_skipped": skipped}, indent=2))
        return
    for name, run in runs.items():
        print(f"{name:>12}: start-up to ready {run['start_s']:.1f} s")
    if skipped is not None:
        print(f"llama-server comparison skipped: {skipped}")
    for concurrency in args.concurrency:
        speeds = {name: run["levels"][concurrency]["output_throughput"] for name, run in runs.items()}  # type: ignore[index]
        line = ", ".join(f"{name} {speed:.1f} tok/s" for name, speed in speeds.items())
        for baseline in ("transformers", "llama-server"):
            if "llamacpp" in speeds and baseline in speeds:
                line += f", llamacpp / {baseline} {speeds['llamacpp'] / speeds[baseline]:.2f}x"
        print(f"{concurrency:>3} streams: {line}")


def _why_no_llama_server(binary: Path | None) -> str | None:
    """Why the llama-server comparison cannot run, or None when it can."""
    if binary is None:
        return "no --llama-server PATH given (build it as benchmarks/README.md shows)"
    if not (binary.is_file() and os.access(binary, os.X_OK)):
        return f"{binary} is not an executable file"
    return None


if __name__ == "__main__":
    main()
