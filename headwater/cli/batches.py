"""`headwater batches create|list|show|cancel`: the batch API of a running platform."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from headwater.cli.options import ApiKey, Json, err, fail
from headwater.cli.platform_client import DEFAULT_URL, PlatformClient, PlatformUrl

app = typer.Typer(help="Run batches of chat or completion requests on a running platform, at low priority.")
out = Console()
FINISHED = ("completed", "failed", "cancelled", "expired")


def _print(batch: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(batch))
        return
    counts = batch["request_counts"]
    out.print(
        f"{batch['id']}  {batch['status']}  {counts['completed']}/{counts['total']} done, {counts['failed']} failed"
        f"  output: {batch.get('output_file_id') or '—'}  errors: {batch.get('error_file_id') or '—'}",
        highlight=False,
    )


@app.command()
def create(
    source: Annotated[str, typer.Argument(help="An uploaded file's id (file-…), or a local JSONL file to upload.")],
    endpoint: Annotated[str, typer.Option(help="/v1/chat/completions or /v1/completions.")] = "/v1/chat/completions",
    wait: Annotated[bool, typer.Option(help="Wait until the batch has finished (progress on stderr).")] = False,
    base_url: PlatformUrl = DEFAULT_URL,
    api_key: ApiKey = None,
    as_json: Json = False,
) -> None:
    """Create a batch from a batch input file (OpenAI's line format: custom_id, method, url, body)."""
    try:
        client = PlatformClient(base_url, api_key)
        file_id = source if source.startswith("file-") else _upload(client, Path(source))
        body = {"input_file_id": file_id, "endpoint": endpoint, "completion_window": "24h"}
        batch = client.json("POST", "/batches", json=body)
        while wait and batch["status"] not in FINISHED:
            time.sleep(1.0)
            batch = client.json("GET", f"/batches/{batch['id']}")
            counts = batch["request_counts"]
            err.print(f"{batch['status']}: {counts['completed'] + counts['failed']}/{counts['total']}", highlight=False)
    except Exception as error:
        raise fail(error) from None
    _print(batch, as_json)


def _upload(client: PlatformClient, path: Path) -> str:
    with path.open("rb") as handle:
        return client.json("POST", "/files", files={"file": (path.name, handle)}, data={"purpose": "batch"})["id"]


@app.command("list")
def list_batches(
    limit: Annotated[int, typer.Option(help="How many, newest first.")] = 20,
    base_url: PlatformUrl = DEFAULT_URL,
    api_key: ApiKey = None,
    as_json: Json = False,
) -> None:
    """List your batches, newest first."""
    try:
        batches = PlatformClient(base_url, api_key).json("GET", "/batches", params={"limit": limit})["data"]
    except Exception as error:
        raise fail(error) from None
    if as_json:
        print(json.dumps({"object": "list", "data": batches}))
        return
    table = Table("id", "status", "done", "failed", "total", "output")
    for batch in batches:
        counts = batch["request_counts"]
        row = (batch["id"], batch["status"], counts["completed"], counts["failed"], counts["total"])
        table.add_row(*map(str, row), batch.get("output_file_id") or "—")
    out.print(table)


@app.command()
def show(batch_id: str, base_url: PlatformUrl = DEFAULT_URL, api_key: ApiKey = None, as_json: Json = False) -> None:
    """Show one batch: status, counts, output and error files."""
    try:
        batch = PlatformClient(base_url, api_key).json("GET", f"/batches/{batch_id}")
    except Exception as error:
        raise fail(error) from None
    _print(batch, as_json)


@app.command()
def cancel(batch_id: str, base_url: PlatformUrl = DEFAULT_URL, api_key: ApiKey = None, as_json: Json = False) -> None:
    """Cancel a batch: no new line starts; lines already done stay in its output file."""
    try:
        batch = PlatformClient(base_url, api_key).json("POST", f"/batches/{batch_id}/cancel")
    except Exception as error:
        raise fail(error) from None
    _print(batch, as_json)
