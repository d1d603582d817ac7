"""`headwater batches create|list|show|cancel`: the batch API of a running platform."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from headwater.cli.options import Json, err, failing, option_groups
from headwater.cli.platform_client import Platform, record_command, show_list, table
from headwater.cli.platform_client import show as show_record

app = typer.Typer(help="Run batches of chat or completion requests on a running platform, at low priority.")
out = Console()
FINISHED = ("completed", "failed", "cancelled", "expired")


def _print(batch: dict[str, Any]) -> None:
    counts = batch["request_counts"]
    out.print(
        f"{batch['id']}  {batch['status']}  {counts['completed']}/{counts['total']} done, {counts['failed']} failed"
        f"  output: {batch.get('output_file_id') or '—'}  errors: {batch.get('error_file_id') or '—'}",
        highlight=False,
    )


def _row(batch: dict[str, Any]) -> tuple[object, ...]:
    counts = batch["request_counts"]
    done = (counts["completed"], counts["failed"], counts["total"])
    return (batch["id"], batch["status"], *done, batch.get("output_file_id") or "—")


@app.command()
@option_groups
def create(
    source: Annotated[str, typer.Argument(help="An uploaded file's id (file-…), or a local JSONL file to upload.")],
    endpoint: Annotated[str, typer.Option(help="/v1/chat/completions or /v1/completions.")] = "/v1/chat/completions",
    wait: Annotated[bool, typer.Option(help="Wait until the batch has finished (progress on stderr).")] = False,
    *,
    platform: Platform,
    as_json: Json = False,
) -> None:
    """Create a batch from a batch input file (OpenAI's line format: custom_id, method, url, body)."""
    with failing():
        client = platform.client()
        file_id = source if source.startswith("file-") else client.upload(Path(source), "batch")["id"]
        body = {"input_file_id": file_id, "endpoint": endpoint, "completion_window": "24h"}
        batch = client.json("POST", "/batches", json=body)
        while wait and batch["status"] not in FINISHED:
            time.sleep(1.0)
            batch = client.json("GET", f"/batches/{batch['id']}")
            counts = batch["request_counts"]
            err.print(f"{batch['status']}: {counts['completed'] + counts['failed']}/{counts['total']}", highlight=False)
    show_record(batch, as_json, _print)


@app.command("list")
@option_groups
def list_batches(
    limit: Annotated[int, typer.Option(help="How many, newest first.")] = 20,
    *,
    platform: Platform,
    as_json: Json = False,
) -> None:
    """List your batches, newest first."""
    columns = ("id", "status", "done", "failed", "total", "output")
    show_list(platform.call("GET", "/batches", params={"limit": limit})["data"], as_json, table(columns, _row))


record_command(
    app, "show", "GET", "/batches/{batch_id}", _print, "Show one batch: status, counts, output and error files."
)
record_command(
    app,
    "cancel",
    "POST",
    "/batches/{batch_id}/cancel",
    _print,
    "Cancel a batch: no new line starts; lines already done stay in its output file.",
)
