"""`headwater files upload|list|show|download|delete`: the files API of a running platform."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from headwater.cli.options import Json, failing, option_groups
from headwater.cli.platform_client import Platform, record_command, show_list, table
from headwater.cli.platform_client import show as show_record

app = typer.Typer(help="Upload and manage files on a running platform (training data, batch inputs, outputs).")
out = Console()


def _print(record: dict[str, Any]) -> None:
    for key, value in record.items():
        out.print(f"[bold]{key}[/]: {value}", highlight=False)


_table = table(
    ("id", "filename", "purpose", "bytes", "created_at"),
    lambda file: (file["id"], file["filename"], file["purpose"], file["bytes"], file["created_at"]),
)


@app.command()
@option_groups
def upload(
    path: Annotated[Path, typer.Argument(help="The file to upload (JSONL for fine-tune, batch and evals).")],
    purpose: Annotated[str, typer.Option(help="fine-tune, batch, evals, …")] = "fine-tune",
    idempotency_key: Annotated[
        str | None, typer.Option(help="Send again safely: the same key returns the same file.")
    ] = None,
    *,
    platform: Platform,
    as_json: Json = False,
) -> None:
    """Upload a file; JSONL files are checked line by line (a bad line is named with its field)."""
    with failing():
        record = platform.client().upload(path, purpose, idempotency_key)
    show_record(record, as_json, _print)


@app.command("list")
@option_groups
def list_files(
    purpose: Annotated[str | None, typer.Option(help="Only files of this purpose.")] = None,
    *,
    platform: Platform,
    as_json: Json = False,
) -> None:
    """List your files, newest first."""
    params = {"purpose": purpose} if purpose else {}
    show_list(platform.call("GET", "/files", params=params)["data"], as_json, _table)


record_command(app, "show", "GET", "/files/{file_id}", _print, "Show one file's metadata.")


@app.command()
@option_groups
def download(
    file_id: str,
    output: Annotated[Path | None, typer.Option(help="Write here (default: stdout).")] = None,
    *,
    platform: Platform,
) -> None:
    """Write a file's content (a batch's output, say) to --output or stdout."""
    with failing():
        data = platform.client().request("GET", f"/files/{file_id}/content").content
        if output is None:
            sys.stdout.buffer.write(data)
        else:
            output.write_bytes(data)


record_command(app, "delete", "DELETE", "/files/{file_id}", _print, "Delete a file.")
