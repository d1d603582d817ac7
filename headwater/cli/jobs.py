"""`headwater jobs list|show|cancel|events`: every long job (fine-tuning, batch, …) of a running platform, through
`/v1/jobs`. `follow` is the live view `jobs events --follow` and `finetune create --follow` share: the job's
progress bar and its events as they come, until it ends."""

from __future__ import annotations

import json
import time
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

from headwater.cli.options import Json, err, failing, option_groups
from headwater.cli.platform_client import Platform, PlatformClient, record_command, show_list, table

app = typer.Typer(help="Every long job you own on a running platform (fine-tuning, batches, …): list, follow, cancel.")
out = Console()
FINISHED = ("succeeded", "failed", "cancelled")
POLL_S = 1.0
"""Seconds between two looks at a followed job."""
_LEVEL_STYLE = {"warning": "yellow", "error": "red"}


def _print(job: dict[str, Any]) -> None:
    error = f"  ({job['error']})" if job.get("error") else ""
    out.print(
        f"{job['id']}  {job['kind']}  {job['state']}  {job['progress']:.0%}  {job['model']}{error}",
        highlight=False,
    )


def _row(job: dict[str, Any]) -> tuple[object, ...]:
    created = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(job["created_at"]))
    return (job["id"], job["kind"], job["state"], f"{job['progress']:.0%}", job["model"], created)


def event_line(event: dict[str, Any]) -> str:
    """One event as the text views print it (rich markup: warnings yellow, errors red)."""
    style = _LEVEL_STYLE.get(event["level"])
    level = f"[{style}]{event['level']:>7}[/]" if style else f"{event['level']:>7}"
    stamp = time.strftime("%H:%M:%S", time.localtime(event["created_at"]))
    return f"{stamp} {level}  {escape(event['message'])}"


def _new_events(client: PlatformClient, job_id: str, after: int | None) -> list[dict[str, Any]]:
    """Every event after the id `after`, oldest first (page after page)."""
    events: list[dict[str, Any]] = []
    while True:
        params = {"limit": 1000, **({"after": after} if after is not None else {})}
        page = client.json("GET", f"/jobs/{job_id}/events", params=params)
        events += page["data"]
        if not page["has_more"]:
            return events
        after = page["last_id"]


def follow(client: PlatformClient, job_id: str, json_events: bool = False) -> dict[str, Any]:
    """Show the job live until it has finished, and return it: a progress bar on stderr, and each event as it
    comes (above the bar; or, with `json_events`, as one JSON line on stdout)."""
    after: int | None = None
    columns = (TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(), TimeElapsedColumn())
    with Progress(*columns, console=err, transient=False) as bar:
        task = bar.add_task(job_id, total=1.0)
        while True:
            job = client.json("GET", f"/jobs/{job_id}")  # first: an event before the end is never missed
            for event in _new_events(client, job_id, after):
                after = event["id"]
                if json_events:
                    print(json.dumps(event), flush=True)
                else:
                    bar.console.print(event_line(event), highlight=False)
            bar.update(task, completed=job["progress"], description=f"{job_id} [bold]{job['state']}[/]")
            if job["state"] in FINISHED:
                return job
            time.sleep(POLL_S)


def exit_unless_succeeded(state: str) -> None:
    """A followed job that did not succeed (failed, cancelled) ends the command with exit code 1."""
    if state != "succeeded":
        raise typer.Exit(1)


@app.command("list")
@option_groups
def list_jobs(
    kind: Annotated[str | None, typer.Option(help="Only this kind: finetune, batch, …")] = None,
    state: Annotated[str | None, typer.Option(help="Only this state: queued, running, succeeded, failed…")] = None,
    limit: Annotated[int, typer.Option(help="How many, newest first (at most 100).")] = 20,
    *,
    platform: Platform,
    as_json: Json = False,
) -> None:
    """Your jobs of every kind, newest first."""
    params = {"limit": limit, **{k: v for k, v in (("kind", kind), ("state", state)) if v is not None}}
    columns = ("id", "kind", "state", "progress", "model", "created")
    show_list(platform.call("GET", "/jobs", params=params)["data"], as_json, table(columns, _row))


record_command(app, "show", "GET", "/jobs/{job_id}", _print, "One job: kind, state, progress, result.")
record_command(
    app,
    "cancel",
    "POST",
    "/jobs/{job_id}/cancel",
    _print,
    "Cancel a job: a queued one at once, a running one's worker within seconds; checkpoints stay.",
)


@app.command()
@option_groups
def events(
    job_id: str,
    follow_: Annotated[
        bool,
        typer.Option("--follow", help="Live view: progress and events until the job ends (exit 1 unless it succeeds)."),
    ] = False,
    after: Annotated[int | None, typer.Option(help="Only events after this event id.")] = None,
    *,
    platform: Platform,
    as_json: Json = False,
) -> None:
    """A job's events, oldest first (one JSON object per line with --json)."""
    if follow_:
        with failing():
            job = follow(platform.client(), job_id, as_json)
        exit_unless_succeeded(job["state"])
        return
    with failing():
        data = _new_events(platform.client(), job_id, after)
    for event in data:
        if as_json:
            print(json.dumps(event))
        else:
            out.print(event_line(event), highlight=False)
