"""Prefill/decode disaggregation: one 1P1D pair (`serving_mode: disaggregated`) against two colocated TEs of the
same model, on the long-prompt/short-decode cell of DeepFlow's heatmap; same prompts, same arrivals.

    .venv/bin/python benchmarks/serving/disaggregation.py [--model tiny-chat] [--prompts 24] [--rate 4]
        [--prompt-tokens 896] [--output-tokens 16] [--json]

Every prompt is `--prompt-tokens` random ids (no two share a prefix) answered with exactly `--output-tokens` tokens
(end tokens biased away). Prints JCT (end-to-end latency) and TTFT percentiles per setup, the p50 JCT ratio
colocated / disaggregated (above 1: disaggregation wins), and what the hand-offs cost: KV bytes per request and
the mean hand-off time, from the disaggregated server's /metrics.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
from pathlib import Path

import httpx

from headwater.models.loading import load_tokenizer, resolve_model
from headwater.platform.launch import launch_server
from headwater.platform.loadgen import LoadConfig, exact_prompts, run_load, summarise

SETUPS = {
    "colocated": "    min_tes: 2\n    max_tes: 2\n    policy: least_load\n",
    "disaggregated": "    serving_mode: disaggregated\n    prefill_tes: 1\n    decode_tes: 1\n",
}


def _metric(text: str, name: str) -> float:
    line = next((line for line in text.splitlines() if line.startswith(name + '{model="bench"}')), None)
    return float(line.split()[-1]) if line is not None else 0.0


def _measure(source: str, setup: str, args: argparse.Namespace, folder: Path) -> dict[str, object]:
    catalogue = folder / f"{setup}.yaml"
    catalogue.write_text(f"models:\n  - model: {source}\n    name: bench\n" + SETUPS[setup])
    env = {"HEADWATER_MODELS": str(catalogue), "HEADWATER_POOL_SIZE": "0"}
    server = launch_server(None, folder / setup, env=env)
    try:
        tokenizer = load_tokenizer(source)
        special = set(tokenizer.all_special_ids)
        vocab = [token for token in range(len(tokenizer)) if token not in special]
        prompts = exact_prompts(args.prompts, args.prompt_tokens, args.output_tokens, vocab, sorted(special), "pd")
        config = LoadConfig(server.base_url, "bench", num_prompts=args.prompts, request_rate=args.rate)
        results, duration = asyncio.run(run_load(config, prompts))
        summary = summarise(results, duration, config)
        metrics = httpx.get(server.base_url.removesuffix("/v1") + "/metrics", timeout=10).text
        handoffs = _metric(metrics, "headwater:kv_transfer_seconds_count")
        summary["kv_bytes_per_request"] = _metric(metrics, "headwater:kv_transfer_bytes_total") / max(1, handoffs)
        summary["handoff_s_mean"] = _metric(metrics, "headwater:kv_transfer_seconds_sum") / max(1, handoffs)
        return summary
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="tiny-chat")
    parser.add_argument("--prompts", type=int, default=24)
    parser.add_argument("--rate", type=float, default=4.0)
    parser.add_argument("--prompt-tokens", type=int, default=896)
    parser.add_argument("--output-tokens", type=int, default=16)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="headwater-pd-") as folder:
        source = resolve_model(args.model, ".headwater")
        runs = {setup: _measure(source, setup, args, Path(folder)) for setup in SETUPS}
    p50 = {setup: run["e2e_s"]["p50"] for setup, run in runs.items()}  # type: ignore[index]
    ratio = p50["colocated"] / p50["disaggregated"] if p50["disaggregated"] else float("nan")
    if args.json:
        print(json.dumps({"runs": runs, "p50_jct_ratio": ratio}, indent=2))
        return
    for setup, run in runs.items():
        jct, ttft = run["e2e_s"], run["ttft_s"]
        print(
            f"{setup:>13}: JCT p50 {jct['p50'] * 1000:.0f} ms, p90 {jct['p90'] * 1000:.0f} ms; "  # type: ignore[index]
            f"TTFT p50 {ttft['p50'] * 1000:.0f} ms; {run['completed']} ok, {run['failed']} failed"  # type: ignore[index]
        )
    pd = runs["disaggregated"]
    print(
        f"hand-off: {pd['kv_bytes_per_request'] / 1e6:.2f} MB of KV per request, "  # type: ignore[operator]
        f"{pd['handoff_s_mean'] * 1000:.1f} ms mean"  # type: ignore[operator]
    )
    print(f"p50 JCT colocated (2 TEs) / disaggregated (1P1D): {ratio:.2f}x")


if __name__ == "__main__":
    main()
