"""A load generator for any OpenAI-compatible server, in the manner of `vllm bench serve`.

Requests arrive as a Poisson process (or a gamma process with `burstiness` ≠ 1, as vLLM draws them) at
`request_rate` per second, or all at once capped at `max_concurrency` in flight. Each is a streamed chat
completion; per request it records TTFT (first content), inter-token latencies, end-to-end latency and the
completion tokens the server reports, and summarises TTFT/TPOT/ITL/E2E percentiles, throughput and goodput (the
requests per second that met every SLO given).

Prompt sets are synthetic and shipped in code, so nothing is downloaded: `sharegpt` draws prompt and output
lengths from log-normal distributions shaped like ShareGPT's (prompt ≤ 1024 tokens, prompt + output ≤ 2048);
`shared-prefix` gives groups of requests one long common prefix each (the case prefix-aware routing helps), the
groups interleaved in a seeded random order.
"""

from __future__ import annotations

import asyncio
import json
import math
import random
import statistics
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import httpx

_WORDS = (
    "river stone bridge market winter garden engine signal harbour forest lantern copper meadow orbit "
    "ledger canvas thunder marble compass valley window pepper silver anchor tunnel cedar quartz beacon"
).split()


@dataclass(frozen=True)
class LoadConfig:
    """What to send, how fast, and which SLOs count for goodput."""

    base_url: str
    model: str
    api_key: str | None = None
    dataset: Literal["sharegpt", "shared-prefix"] = "sharegpt"
    num_prompts: int = 100
    request_rate: float = math.inf
    """Requests per second; inf sends them all at once (bounded by max_concurrency)."""
    burstiness: float = 1.0
    """Gamma shape of the inter-arrival times: 1 is Poisson, below 1 burstier, above 1 more regular."""
    max_concurrency: int | None = None
    max_output_tokens: int = 256
    max_prompt_words: int = 780
    """Cap on a prompt's length (ShareGPT-like prompts reach 1024 tokens: lower it for a small context window)."""
    prefix_groups: int = 4
    seed: int = 0
    slo_ttft_s: float | None = None
    slo_tpot_s: float | None = None
    timeout_s: float = 600.0
    keep_alive: bool = True
    """Reuse connections between requests. False opens one per request: llama.cpp's server closes a kept-alive
    connection after a few requests, and a request sent on it as it closes fails without an answer."""


@dataclass(frozen=True)
class Prompt:
    text: str
    max_tokens: int
    token_ids: tuple[int, ...] | None = None
    """Send these tokens to /completions instead of `text` as a chat message: an exact prompt length."""
    banned_token_ids: tuple[int, ...] = ()
    """Tokens given a −100 logit bias (the model's end tokens): the reply is exactly `max_tokens` long, as with
    vLLM's `ignore_eos`, but through the OpenAI API."""


@dataclass
class RequestResult:
    ok: bool
    ttft_s: float = 0.0
    e2e_s: float = 0.0
    output_tokens: int = 0
    prompt_tokens: int = 0
    cached_tokens: int = 0
    """Prompt tokens the server reused from its prefix cache (`usage.prompt_tokens_details.cached_tokens`)."""
    itl_s: list[float] = field(default_factory=list)
    error: str | None = None

    @property
    def tpot_s(self) -> float | None:
        if self.output_tokens < 2:
            return None
        return (self.e2e_s - self.ttft_s) / (self.output_tokens - 1)


def _words(rng: random.Random, count: int) -> str:
    return " ".join(rng.choice(_WORDS) for _ in range(count))


def make_prompts(config: LoadConfig) -> list[Prompt]:
    """The shipped synthetic set (a word is about 1.3 tokens for the usual BPE tokenizers)."""
    rng = random.Random(config.seed)
    prompts = []
    if config.dataset == "shared-prefix":
        prefixes = [_words(rng, min(400, config.max_prompt_words)) for _ in range(config.prefix_groups)]
        groups = [index % len(prefixes) for index in range(config.num_prompts)]
        rng.shuffle(groups)  # equal group sizes in a seeded random order: a cyclic one would make round robin
        # over a number of TEs dividing `prefix_groups` send every prefix to one TE, as prefix-aware routing does
        for index, group in enumerate(groups):
            question = f"Question {index}: {_words(rng, 12)}?"
            prompts.append(Prompt(f"{prefixes[group]}\n\n{question}", config.max_output_tokens))
        return prompts
    for _ in range(config.num_prompts):
        prompt_words = min(config.max_prompt_words, max(4, round(rng.lognormvariate(4.5, 1.0))))
        wanted = max(1, round(rng.lognormvariate(5.0, 0.9)))
        output = min(config.max_output_tokens, 2048 - round(prompt_words * 1.3), wanted)
        prompts.append(Prompt(_words(rng, prompt_words), max(1, output)))
    return prompts


def exact_prompts(
    count: int, prompt_tokens: int, output_tokens: int, vocab: Sequence[int], banned: Sequence[int], seed: str
) -> list[Prompt]:
    """`count` prompts of exactly `prompt_tokens` random ids from `vocab`, each answered with exactly `output_tokens`
    (`banned`, the end tokens, are biased away): the fixed-shape requests of a heatmap cell or a mixed trace. Each
    prompt differs from the first token on, so no request reuses another's prefix."""
    rng = random.Random(seed)
    return [Prompt("", output_tokens, tuple(rng.choices(vocab, k=prompt_tokens)), tuple(banned)) for _ in range(count)]


def arrival_delays(config: LoadConfig) -> list[float]:
    """Seconds to wait before each request: gamma-distributed with mean 1/rate (Poisson when burstiness is 1)."""
    if math.isinf(config.request_rate):
        return [0.0] * config.num_prompts
    rng = random.Random(config.seed + 1)
    scale = 1.0 / (config.request_rate * config.burstiness)
    return [rng.gammavariate(config.burstiness, scale) for _ in range(config.num_prompts)]


def _request(config: LoadConfig, prompt: Prompt) -> tuple[str, dict[str, object]]:
    """The path and streamed body of one request: a chat message, or a completion over token ids."""
    body: dict[str, object] = {
        "model": config.model,
        "max_tokens": prompt.max_tokens,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    if prompt.banned_token_ids:
        body["logit_bias"] = {str(token): -100 for token in prompt.banned_token_ids}
    if prompt.token_ids is not None:
        return "/completions", {**body, "prompt": list(prompt.token_ids)}
    return "/chat/completions", {**body, "messages": [{"role": "user", "content": prompt.text}]}


def _has_text(choice: dict[str, Any]) -> bool:
    return bool(choice.get("text") or choice.get("delta", {}).get("content"))


async def _one(client: httpx.AsyncClient, config: LoadConfig, prompt: Prompt) -> RequestResult:
    path, body = _request(config, prompt)
    started = time.perf_counter()
    result = RequestResult(ok=False)
    last = None
    try:
        async with client.stream("POST", path, json=body) as response:
            if response.status_code != 200:
                result.error = f"HTTP {response.status_code}: {(await response.aread())[:200]!r}"
                return result
            async for line in response.aiter_lines():
                if not line.startswith("data: ") or line == "data: [DONE]":
                    continue
                chunk = json.loads(line[6:])
                if "error" in chunk:
                    result.error = str(chunk["error"].get("message"))
                    return result
                now = time.perf_counter()
                if any(_has_text(choice) for choice in chunk.get("choices", [])):
                    if last is None:
                        result.ttft_s = now - started
                    else:
                        result.itl_s.append(now - last)
                    last = now
                if usage := chunk.get("usage"):
                    result.output_tokens = usage["completion_tokens"]
                    result.prompt_tokens = usage.get("prompt_tokens", 0)
                    result.cached_tokens = (usage.get("prompt_tokens_details") or {}).get("cached_tokens", 0)
    except httpx.HTTPError as error:
        result.error = f"{type(error).__name__}: {error}"
        return result
    result.e2e_s = time.perf_counter() - started
    result.ok = True
    return result


async def run_load(config: LoadConfig, prompts: list[Prompt] | None = None) -> tuple[list[RequestResult], float]:
    """Send the prompt set as configured (or `prompts`, one per `num_prompts`); returns each request's result and
    the run's wall time."""
    prompts = make_prompts(config) if prompts is None else prompts
    delays = arrival_delays(config)
    if len(prompts) != len(delays):
        raise ValueError(f"num_prompts is {config.num_prompts} but {len(prompts)} prompts were given")
    headers = {"Authorization": f"Bearer {config.api_key}"} if config.api_key else {}
    limit = asyncio.Semaphore(config.max_concurrency or config.num_prompts)
    connections = connection_limits(config)

    async def limited(client: httpx.AsyncClient, prompt: Prompt) -> RequestResult:
        async with limit:
            return await _one(client, config, prompt)

    async with httpx.AsyncClient(
        base_url=config.base_url, headers=headers, timeout=config.timeout_s, limits=connections
    ) as client:
        started = time.perf_counter()
        tasks = []
        for prompt, delay in zip(prompts, delays, strict=True):
            if delay:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(limited(client, prompt)))
        results = await asyncio.gather(*tasks)
    return list(results), time.perf_counter() - started


def _percentiles(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"mean": None, "p50": None, "p90": None, "p99": None}
    ordered = sorted(values)

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]

    return {"mean": statistics.fmean(ordered), "p50": at(0.5), "p90": at(0.9), "p99": at(0.99)}


def connection_limits(config: LoadConfig) -> httpx.Limits:
    """As many connections as requests in flight, kept alive between requests unless `keep_alive` is off."""
    return httpx.Limits(
        max_connections=config.max_concurrency or config.num_prompts,
        max_keepalive_connections=None if config.keep_alive else 0,
    )


def summarise(results: list[RequestResult], duration_s: float, config: LoadConfig) -> dict[str, object]:
    """Latency percentiles (seconds), throughput and goodput of a run."""
    done = [result for result in results if result.ok]
    tpots = [tpot for result in done if (tpot := result.tpot_s) is not None]
    good = [
        result
        for result in done
        if (config.slo_ttft_s is None or result.ttft_s <= config.slo_ttft_s)
        and (config.slo_tpot_s is None or (result.tpot_s or 0.0) <= config.slo_tpot_s)
    ]
    output_tokens = sum(result.output_tokens for result in done)
    prompt_tokens = sum(result.prompt_tokens for result in done)
    cached_tokens = sum(result.cached_tokens for result in done)
    return {
        "config": {key: value for key, value in asdict(config).items() if key != "api_key"},
        "completed": len(done),
        "failed": len(results) - len(done),
        "errors": sorted({result.error for result in results if result.error})[:5],
        "duration_s": duration_s,
        "request_throughput": len(done) / duration_s if duration_s else 0.0,
        "output_throughput": output_tokens / duration_s if duration_s else 0.0,
        "goodput": len(good) / duration_s if duration_s else 0.0,
        "prompt_tokens": prompt_tokens,
        "cached_prompt_fraction": cached_tokens / prompt_tokens if prompt_tokens else 0.0,
        "ttft_s": _percentiles([result.ttft_s for result in done]),
        "tpot_s": _percentiles(tpots),
        "itl_s": _percentiles([gap for result in done for gap in result.itl_s]),
        "e2e_s": _percentiles([result.e2e_s for result in done]),
    }
