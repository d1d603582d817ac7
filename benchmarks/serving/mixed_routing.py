"""`deepflow` vs `round_robin` vs `least_load` routing on a mixed trace: half long-prompt/short-answer and half
short-prompt/long-answer requests (shuffled), each of an exact shape (token-id prompts, end tokens biased away:
`headwater.platform.loadgen.exact_prompts`), with the same Poisson arrivals under each policy.

    .venv/bin/python benchmarks/serving/mixed_routing.py [--model tiny-chat] [--requests 48] [--rate 6] [--rounds 3]
        [--long-prompt 512] [--short-answer 8] [--short-prompt 32] [--long-answer 128] [--tes 3]
        [--deepflow-group mixed|colocated] [--heatmap FILE] [--json]

One gateway serves the model three times, one entry per policy, each on `--tes` TEs; every round sends the whole
trace to each entry in turn (the order rotates), so a busy spell of the machine falls on all policies alike. Prints
JCT (end-to-end latency) p50/p90 per policy over all rounds and each baseline's p50 and p90 over deepflow's.

`--deepflow-group mixed` (the default) gives deepflow a group of both kinds, a 1P1D pair and `--tes` − 2 colocated
TEs (`colocated_tes`), so Algorithm 1's step 1 picks the kind per request from the heatmap: `--heatmap FILE` (e.g.
from `headwater scheduler build-heatmap`), else the shape DeepFlow reports (the pair for prompts over 256 tokens
whose predicted answer is at most their length, colocated otherwise), written beside the catalogue. The predictor
is untrained (its heuristic: 192 tokens out), so the split follows the prompt length. `colocated`: deepflow on
`--tes` colocated TEs, i.e. step 2 alone (longest cached prefix while balanced, else least load).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import tempfile
from pathlib import Path

import httpx

from headwater.models.loading import load_tokenizer, resolve_model
from headwater.platform.launch import launch_server
from headwater.platform.loadgen import LoadConfig, Prompt, RequestResult, exact_prompts, run_load, summarise

POLICIES = ("round_robin", "least_load", "deepflow")


def mixed_trace(source: str, args: argparse.Namespace, round_: int) -> list[Prompt]:
    """Half long prompts with short answers, half the reverse, in a seeded random order; new prompts each round (no
    round reuses another's prefixes)."""
    tokenizer = load_tokenizer(source)
    special = {*tokenizer.all_special_ids, tokenizer.eos_token_id} - {None}
    vocab = [token for token in range(len(tokenizer)) if token not in special]
    half = args.requests // 2
    seed = f"{args.seed}-{round_}"
    prompts = exact_prompts(half, args.long_prompt, args.short_answer, vocab, sorted(special), f"long-prompt-{seed}")
    prompts += exact_prompts(
        args.requests - half, args.short_prompt, args.long_answer, vocab, sorted(special), f"long-answer-{seed}"
    )
    random.Random(seed).shuffle(prompts)
    return prompts


PAPER_HEATMAP = {"prompt_lengths": [256, 10**6], "ratios": [1.0, 10.0**6], "gain": [[-0.5, -0.5], [0.5, -0.5]]}
"""Disaggregate long prompts with answers no longer than them; colocate the rest (the sign pattern of DeepFlow's
heatmap, not a measurement of this machine)."""


def _catalogue(folder: Path, source: str, args: argparse.Namespace) -> Path:
    path = folder / "models.yaml"
    tes = args.tes
    entries: list[dict[str, object]] = [
        {"model": source, "name": policy, "min_tes": tes, "max_tes": tes, "policy": policy} for policy in POLICIES
    ]
    heatmap = args.heatmap
    if args.deepflow_group == "mixed":
        if tes < 3:
            raise SystemExit("--deepflow-group mixed needs --tes 3 or more: a 1P1D pair and a colocated TE")
        entries[-1].update(serving_mode="disaggregated", prefill_tes=1, decode_tes=1, colocated_tes=tes - 2)
        if heatmap is None:
            heatmap = folder / "pd_heatmap.json"
            heatmap.write_text(json.dumps(PAPER_HEATMAP))
    if heatmap is not None:
        entries[-1]["heatmap"] = str(heatmap.resolve())
    path.write_text(json.dumps({"models": entries}))
    return path


def _routes(metrics: str) -> dict[str, float]:
    """deepflow's sequences by route (`headwater:pd_requests`), to show the split."""
    prefix = 'headwater:pd_requests_total{model="deepflow",route="'
    return {
        line[len(prefix) :].split('"')[0]: float(line.split()[-1])
        for line in metrics.splitlines()
        if line.startswith(prefix)
    }


def _measure(source: str, args: argparse.Namespace, folder: Path) -> dict[str, dict]:
    """Every policy's summary over `args.rounds` rounds of the trace (JCT percentiles over all its requests)."""
    env = {"HEADWATER_MODELS": str(_catalogue(folder, source, args)), "HEADWATER_POOL_SIZE": "0"}
    server = launch_server(None, folder, env=env)
    try:
        for policy in POLICIES:
            for _ in range(2):  # a first step on each TE (least load sends the second to the idle one)
                body = {"model": policy, "prompt": [5, 6, 7, 8], "max_tokens": 2}
                httpx.post(server.base_url + "/completions", json=body, timeout=120).raise_for_status()
        results: dict[str, list[RequestResult]] = {policy: [] for policy in POLICIES}
        durations = dict.fromkeys(POLICIES, 0.0)
        for round_ in range(args.rounds):
            prompts = mixed_trace(source, args, round_)
            for policy in POLICIES[round_ % 3 :] + POLICIES[: round_ % 3]:
                config = LoadConfig(server.base_url, policy, num_prompts=len(prompts), request_rate=args.rate)
                done, duration = asyncio.run(run_load(config, prompts))
                results[policy] += done
                durations[policy] += duration
        total = LoadConfig(server.base_url, "", num_prompts=args.requests * args.rounds, request_rate=args.rate)
        runs = {policy: summarise(results[policy], durations[policy], total) for policy in POLICIES}
        metrics = httpx.get(server.base_url.removesuffix("/v1") + "/metrics", timeout=30).text
        runs["deepflow"]["routes"] = _routes(metrics)
        return runs
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="tiny-chat")
    parser.add_argument("--requests", type=int, default=48)
    parser.add_argument("--rate", type=float, default=6.0)
    parser.add_argument("--long-prompt", type=int, default=512)
    parser.add_argument("--short-answer", type=int, default=8)
    parser.add_argument("--short-prompt", type=int, default=32)
    parser.add_argument("--long-answer", type=int, default=128)
    parser.add_argument("--tes", type=int, default=3)
    parser.add_argument("--deepflow-group", choices=("mixed", "colocated"), default="mixed")
    parser.add_argument("--heatmap", type=Path, default=None)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    source = str(Path(resolve_model(args.model, ".headwater")).resolve())
    with tempfile.TemporaryDirectory(prefix="headwater-mixed-") as folder:
        runs = _measure(source, args, Path(folder))
    jct = {policy: run["e2e_s"] for policy, run in runs.items()}
    ratios = {
        f"{policy}/deepflow_{q}": jct[policy][q] / jct["deepflow"][q] for policy in POLICIES[:2] for q in ("p50", "p90")
    }
    if args.json:
        print(json.dumps({"runs": runs, "jct_ratios": ratios}, indent=2))
        return
    for policy, run in runs.items():
        print(
            f"{policy:>11}: JCT p50 {jct[policy]['p50']:.2f} s, p90 {jct[policy]['p90']:.2f} s; "
            f"{run['request_throughput']:.2f} req/s; {run['completed']} ok, {run['failed']} failed"
        )
    print(", ".join(f"{name} {value:.2f}x" for name, value in ratios.items()))
    if runs["deepflow"]["routes"]:
        print("deepflow sequences by route:", runs["deepflow"]["routes"])


if __name__ == "__main__":
    main()
