"""`headwater scheduler train-predictor`: the output-length predictor of the `deepflow` routing policy, learned from
the platform's own logged requests (see `headwater.platform.predictor`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from headwater.cli.options import Json
from headwater.config import Settings
from headwater.platform.predictor import BUCKET_TOKENS, LoggedRequest, train
from headwater.platform.store import Store

app = typer.Typer(help="The routing scheduler's learned parts.", no_args_is_help=True)
out = Console()
err = Console(stderr=True)
REQUEST_KINDS = ("chat", "completion")


@app.command("train-predictor")
def train_predictor(
    data_dir: Annotated[
        Path | None, typer.Option(help="Data folder of the store (default: HEADWATER_DATA_DIR or ./.headwater).")
    ] = None,
    output: Annotated[
        Path | None, typer.Option(help="Where to save it (default: DATA_DIR/length_predictor.json).")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, help="Most recent logged requests to learn from.")] = 100_000,
    min_rows: Annotated[int, typer.Option(min=1, help="Refuse to train on fewer succeeded requests.")] = 50,
    held_out: Annotated[float, typer.Option(min=0.05, max=0.5, help="Share of requests kept for the accuracy.")] = 0.2,
    as_json: Json = False,
) -> None:
    """Learn the 128-token completion bucket from logged chat/completion requests; print held-out accuracy."""
    settings = Settings(data_dir=data_dir) if data_dir else Settings()
    store = Store(settings.resolved_store_url)
    try:
        jobs = store.list_jobs(limit=limit, kinds=REQUEST_KINDS)
    finally:
        store.engine.dispose()
    rows = [
        LoggedRequest(job.id, job.model, job.kind, job.prompt_tokens, job.completion_tokens)
        for job in jobs
        if job.state == "succeeded"
    ]
    if len(rows) < min_rows:
        err.print(f"[red]error:[/] {len(rows)} succeeded requests logged; --min-rows is {min_rows}: serve more first")
        raise typer.Exit(2)
    predictor, report = train(rows, held_out)
    path = output or settings.data_dir / "length_predictor.json"
    predictor.save(path)
    if as_json:
        print(json.dumps({**report, "path": str(path), "bucket_tokens": BUCKET_TOKENS}))
        return
    out.print(
        f"trained on {report['train_rows']} requests, held out {report['held_out_rows']}: "
        f"accuracy {report['held_out_accuracy']:.3f} (untrained heuristic {report['heuristic_accuracy']:.3f}, "
        f"majority bucket {report['majority_accuracy']:.3f}); saved {path}"
    )
