"""`headwater bench serve`: load-test any OpenAI-compatible server (ours, vLLM, llama.cpp, a cloud API)."""

from __future__ import annotations

import asyncio
import json
import math
from typing import Annotated, Literal

import typer
from rich.console import Console
from rich.table import Table

from headwater.models.openai_generator import default_api_key
from headwater.platform.loadgen import LoadConfig, run_load, summarise

app = typer.Typer(help="Benchmarks against a running server.", no_args_is_help=True)
out = Console()
err = Console(stderr=True)


@app.command("serve")
def serve(
    model: Annotated[str, typer.Option(help="Model name the server serves.")],
    base_url: Annotated[str, typer.Option(help="OpenAI base URL of the server.")] = "http://127.0.0.1:8000/v1",
    api_key: Annotated[str | None, typer.Option(help="Default: HEADWATER_API_KEY, then OPENAI_API_KEY.")] = None,
    dataset: Annotated[
        Literal["sharegpt", "shared-prefix"],
        typer.Option(help="sharegpt: ShareGPT-like lengths; shared-prefix: groups sharing a long prefix."),
    ] = "sharegpt",
    num_prompts: Annotated[int, typer.Option(min=1, help="Requests to send.")] = 100,
    request_rate: Annotated[float, typer.Option(help="Requests per second (inf: all at once).")] = math.inf,
    burstiness: Annotated[float, typer.Option(min=0.01, help="Gamma shape of arrivals; 1 = Poisson.")] = 1.0,
    max_concurrency: Annotated[int | None, typer.Option(min=1, help="Most requests in flight.")] = None,
    max_output_tokens: Annotated[int, typer.Option(min=1, help="Cap on each request's max_tokens.")] = 256,
    max_prompt_words: Annotated[
        int, typer.Option(min=4, help="Cap on a prompt's words (≈1.3 tokens each); lower it for a small model.")
    ] = 780,
    seed: Annotated[int, typer.Option(help="Seed of the prompt set and the arrivals.")] = 0,
    slo_ttft_s: Annotated[float | None, typer.Option(help="TTFT SLO for goodput, seconds.")] = None,
    slo_tpot_s: Annotated[float | None, typer.Option(help="TPOT SLO for goodput, seconds.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.")] = False,
) -> None:
    """Send a synthetic prompt set as streamed chat completions at a rate (Poisson or gamma arrivals) or a fixed
    concurrency, and report TTFT, TPOT, ITL and E2E percentiles, throughput and goodput under the SLOs given
    (like `vllm bench serve`). Exit 1 when any request failed."""
    config = LoadConfig(
        base_url,
        model,
        api_key or default_api_key(),
        dataset,
        num_prompts,
        request_rate,
        burstiness,
        max_concurrency,
        max_output_tokens,
        seed=seed,
        slo_ttft_s=slo_ttft_s,
        slo_tpot_s=slo_tpot_s,
    )
    err.print(f"sending {num_prompts} {dataset} requests to {base_url} …")
    results, duration = asyncio.run(run_load(config))
    summary = summarise(results, duration, config)
    if as_json:
        print(json.dumps(summary))
    else:
        _print(summary)
    if summary["failed"]:
        err.print(f"[red]{summary['failed']} request(s) failed:[/] {'; '.join(summary['errors'])}")  # type: ignore[arg-type]
        raise typer.Exit(1)


def _print(summary: dict[str, object]) -> None:
    table = Table("metric (ms)", "mean", "p50", "p90", "p99")
    for key in ("ttft_s", "tpot_s", "itl_s", "e2e_s"):
        row = summary[key]
        assert isinstance(row, dict)
        cells = ["—" if row[q] is None else f"{row[q] * 1000:.1f}" for q in ("mean", "p50", "p90", "p99")]
        table.add_row(key.removesuffix("_s").upper(), *cells)
    out.print(table)
    out.print(
        f"completed {summary['completed']}, failed {summary['failed']} in {summary['duration_s']:.1f} s: "
        f"{summary['request_throughput']:.2f} req/s, {summary['output_throughput']:.1f} output tok/s, "
        f"goodput {summary['goodput']:.2f} req/s"
    )
