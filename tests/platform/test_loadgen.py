"""The load generator: prompt sets and arrivals as specified, and a real run against the test server."""

from __future__ import annotations

import asyncio
import json
import math
import statistics
import subprocess
import sys
from collections import Counter

from headwater.platform.loadgen import (
    LoadConfig,
    arrival_delays,
    connection_limits,
    exact_prompts,
    make_prompts,
    run_load,
    summarise,
)


def test_sharegpt_like_lengths_stay_in_bounds_and_are_seeded():
    config = LoadConfig("http://x/v1", "m", num_prompts=300, max_output_tokens=512)
    prompts = make_prompts(config)
    assert prompts == make_prompts(config)
    words = [len(prompt.text.split()) for prompt in prompts]
    assert max(words) <= 780 and min(words) >= 4 and len(set(words)) > 50
    assert all(1 <= prompt.max_tokens <= 512 for prompt in prompts)


def test_shared_prefix_prompts_share_their_groups_prefix_in_a_random_order():
    config = LoadConfig("http://x/v1", "m", dataset="shared-prefix", num_prompts=64, prefix_groups=8)
    prompts = make_prompts(config)
    assert prompts == make_prompts(config)
    prefixes = [prompt.text.split("\n\n")[0] for prompt in prompts]
    assert sorted(Counter(prefixes).values()) == [8] * 8 and len(set(prompt.text for prompt in prompts)) == 64
    # not cyclic: round robin over 2 TEs must not send every request of a prefix to the same TE
    assert set(prefixes[0::2]) & set(prefixes[1::2])


def test_poisson_arrivals_have_the_asked_rate_and_bursty_ones_more_spread():
    poisson = arrival_delays(LoadConfig("http://x/v1", "m", num_prompts=4000, request_rate=20.0))
    bursty = arrival_delays(LoadConfig("http://x/v1", "m", num_prompts=4000, request_rate=20.0, burstiness=0.25))
    assert abs(statistics.fmean(poisson) - 0.05) < 0.005 and abs(statistics.fmean(bursty) - 0.05) < 0.01
    assert statistics.stdev(bursty) > 1.5 * statistics.stdev(poisson)
    assert arrival_delays(LoadConfig("http://x/v1", "m", num_prompts=3)) == [0.0, 0.0, 0.0]


def test_a_run_against_the_server_reports_every_figure(server):
    config = LoadConfig(
        server.base_url,
        server.model,
        server.api_key,
        num_prompts=6,
        request_rate=math.inf,
        max_concurrency=3,
        max_output_tokens=6,
        max_prompt_words=60,
        slo_ttft_s=60.0,
    )
    results, duration = asyncio.run(run_load(config))
    summary = summarise(results, duration, config)
    assert summary["completed"] == 6 and summary["failed"] == 0, summary["errors"]
    assert summary["goodput"] == summary["request_throughput"] > 0
    assert 0 < summary["ttft_s"]["p50"] <= summary["e2e_s"]["p99"]
    assert summary["output_throughput"] > 0


def test_the_cli_prints_json_and_fails_on_errors(server):
    command = [
        sys.executable,
        "-m",
        "headwater",
        "bench",
        "serve",
        "--model",
        server.model,
        "--base-url",
        server.base_url,
        "--api-key",
        server.api_key,
        "--num-prompts",
        "2",
        "--max-output-tokens",
        "3",
        "--max-prompt-words",
        "40",
        "--json",
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["completed"] == 2
    wrong = subprocess.run([*command[:6], "nope", *command[7:]], capture_output=True, text=True, timeout=120)
    assert wrong.returncode == 1 and "404" in wrong.stderr


def test_exact_prompts_have_their_shape_and_share_no_prefix():
    prompts = exact_prompts(4, 50, 7, range(10, 200), [2, 3], seed="cell")
    assert prompts == exact_prompts(4, 50, 7, range(10, 200), [2, 3], seed="cell")
    assert all(len(p.token_ids or ()) == 50 and p.max_tokens == 7 and p.banned_token_ids == (2, 3) for p in prompts)
    assert len({p.token_ids[:2] for p in prompts if p.token_ids}) == 4


def test_token_prompts_with_banned_end_tokens_get_exactly_max_tokens(server, tiny_chat_path):
    """A sampled reply could reach the end token and stop early; with it biased away, each is max_tokens long."""
    from headwater.models.loading import load_tokenizer

    tokenizer = load_tokenizer(str(tiny_chat_path))
    vocab = [token for token in range(len(tokenizer)) if token not in tokenizer.all_special_ids]
    prompts = exact_prompts(3, 40, 48, vocab, tokenizer.all_special_ids, seed="exact")
    config = LoadConfig(server.base_url, server.model, server.api_key, num_prompts=3, max_concurrency=3)
    results, _ = asyncio.run(run_load(config, prompts))
    assert [(r.ok, r.output_tokens) for r in results] == [(True, 48)] * 3, [r.error for r in results]
    assert all(0 < r.ttft_s < r.e2e_s for r in results)


def test_connections_are_kept_alive_unless_asked_not_to():
    kept = connection_limits(LoadConfig("http://x", "m", max_concurrency=4))
    assert kept.max_connections == 4 and kept.max_keepalive_connections is None
    fresh = connection_limits(LoadConfig("http://x", "m", max_concurrency=4, keep_alive=False))
    assert fresh.max_connections == 4 and fresh.max_keepalive_connections == 0
