"""`headwater files upload|list|show|download|delete`: the files API of a running platform."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from headwater.cli.options import ApiKey, Json, fail
from headwater.cli.platform_client import DEFAULT_URL, PlatformClient, PlatformUrl

app = typer.Typer(help="Upload and manage files on a running platform (training data, batch inputs, outputs).")
out = Console()


def _print(record: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(record))
        return
    for key, value in record.items():
        out.print(f"[bold]{key}[/]: {value}", highlight=False)


@app.command()
def upload(
    path: Annotated[Path, typer.Argument(help="The file to upload (JSONL for fine-tune, batch and evals).")],
    purpose: Annotated[str, typer.Option(help="fine-tune, batch, evals, …")] = "fine-tune",
    idempotency_key: Annotated[
        str | None, typer.Option(help="Send again safely: the same key returns the same file.")
    ] = None,
    base_url: PlatformUrl = DEFAULT_URL,
    api_key: ApiKey = None,
    as_json: Json = False,
) -> None:
    """Upload a file; JSONL files are checked line by line (a bad line is named with its field)."""
    try:
        client = PlatformClient(base_url, api_key)
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        with path.open("rb") as handle:
            record = client.json(
                "POST", "/files", files={"file": (path.name, handle)}, data={"purpose": purpose}, headers=headers
            )
    except Exception as error:
        raise fail(error) from None
    _print(record, as_json)


@app.command("list")
def list_files(
    purpose: Annotated[str | None, typer.Option(help="Only files of this purpose.")] = None,
    base_url: PlatformUrl = DEFAULT_URL,
    api_key: ApiKey = None,
    as_json: Json = False,
) -> None:
    """List your files, newest first."""
    try:
        params = {"purpose": purpose} if purpose else {}
        files = PlatformClient(base_url, api_key).json("GET", "/files", params=params)["data"]
    except Exception as error:
        raise fail(error) from None
    if as_json:
        print(json.dumps({"object": "list", "data": files}))
        return
    table = Table("id", "filename", "purpose", "bytes", "created_at")
    for file in files:
        table.add_row(file["id"], file["filename"], file["purpose"], str(file["bytes"]), str(file["created_at"]))
    out.print(table)


@app.command()
def show(file_id: str, base_url: PlatformUrl = DEFAULT_URL, api_key: ApiKey = None, as_json: Json = False) -> None:
    """Show one file's metadata."""
    try:
        record = PlatformClient(base_url, api_key).json("GET", f"/files/{file_id}")
    except Exception as error:
        raise fail(error) from None
    _print(record, as_json)


@app.command()
def download(
    file_id: str,
    output: Annotated[Path | None, typer.Option(help="Write here (default: stdout).")] = None,
    base_url: PlatformUrl = DEFAULT_URL,
    api_key: ApiKey = None,
) -> None:
    """Write a file's content (a batch's output, say) to --output or stdout."""
    try:
        data = PlatformClient(base_url, api_key).request("GET", f"/files/{file_id}/content").content
        if output is None:
            sys.stdout.buffer.write(data)
        else:
            output.write_bytes(data)
    except Exception as error:
        raise fail(error) from None


@app.command()
def delete(file_id: str, base_url: PlatformUrl = DEFAULT_URL, api_key: ApiKey = None, as_json: Json = False) -> None:
    """Delete a file."""
    try:
        record = PlatformClient(base_url, api_key).json("DELETE", f"/files/{file_id}")
    except Exception as error:
        raise fail(error) from None
    _print(record, as_json)
