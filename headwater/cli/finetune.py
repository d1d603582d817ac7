"""`headwater finetune create|list|show|cancel|events`: the fine-tuning API of a running platform."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from headwater.cli.options import ApiKey, Json, err, fail
from headwater.cli.platform_client import DEFAULT_URL, PlatformClient, PlatformUrl

app = typer.Typer(help="Fine-tune a served model on an uploaded file, on a running platform.")
out = Console()
FINISHED = ("succeeded", "failed", "cancelled")


def _print(job: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(job))
        return
    error = (job.get("error") or {}).get("message")
    model = job.get("fine_tuned_model") or "—"
    out.print(f"{job['id']}  {job['status']}  {job['model']} → {model}" + (f"  ({error})" if error else ""))


def _follow(client: PlatformClient, job_id: str) -> dict[str, Any]:
    """Print the job's events on stderr as they come, until it has finished."""
    seen: set[str] = set()
    while True:
        job = client.json("GET", f"/fine_tuning/jobs/{job_id}")
        events = client.json("GET", f"/fine_tuning/jobs/{job_id}/events", params={"limit": 1000})["data"]
        for event in reversed(events):
            if event["id"] not in seen:
                seen.add(event["id"])
                err.print(f"{event['level']:>7}  {event['message']}", highlight=False)
        if job["status"] in FINISHED:
            return job
        time.sleep(1.0)


@app.command()
def create(
    model: Annotated[str, typer.Option(help="A model the platform serves.")],
    file: Annotated[Path | None, typer.Option(help="A local JSONL file to upload as the training file.")] = None,
    training_file: Annotated[str | None, typer.Option(help="An uploaded file's id (file-…).")] = None,
    method: Annotated[str, typer.Option(help="supervised (dpo, cft, distill: planned).")] = "supervised",
    suffix: Annotated[str | None, typer.Option(help="Part of the new model's name: ft:<model>:<suffix>:<id>.")] = None,
    epochs: Annotated[int | None, typer.Option(help="n_epochs (default: the server's).")] = None,
    batch_size: Annotated[int | None, typer.Option(help="batch_size (default: the server's).")] = None,
    follow: Annotated[bool, typer.Option(help="Print the job's events until it ends.")] = False,
    base_url: PlatformUrl = DEFAULT_URL,
    api_key: ApiKey = None,
    as_json: Json = False,
) -> None:
    """Create a fine-tuning job; with --follow, wait for it and print its events on stderr."""
    try:
        if (file is None) == (training_file is None):
            raise typer.BadParameter("give exactly one of --file and --training-file")
        client = PlatformClient(base_url, api_key)
        if file is not None:
            with file.open("rb") as handle:
                upload = {"file": (file.name, handle)}
                training_file = client.json("POST", "/files", files=upload, data={"purpose": "fine-tune"})["id"]
        hyper = {k: v for k, v in (("n_epochs", epochs), ("batch_size", batch_size)) if v is not None}
        body = {
            "model": model,
            "training_file": training_file,
            "method": {"type": method, method: {"hyperparameters": hyper}},
        }
        if suffix:
            body["suffix"] = suffix
        job = client.json("POST", "/fine_tuning/jobs", json=body)
        if follow:
            job = _follow(client, job["id"])
    except Exception as error:
        raise fail(error) from None
    _print(job, as_json)
    if follow and job["status"] != "succeeded":
        raise typer.Exit(1)


@app.command("list")
def list_jobs(base_url: PlatformUrl = DEFAULT_URL, api_key: ApiKey = None, as_json: Json = False) -> None:
    """Your fine-tuning jobs, newest first."""
    try:
        jobs = PlatformClient(base_url, api_key).json("GET", "/fine_tuning/jobs")["data"]
    except Exception as error:
        raise fail(error) from None
    if as_json:
        print(json.dumps({"object": "list", "data": jobs}))
        return
    for job in jobs:
        _print(job, False)


@app.command()
def show(job_id: str, base_url: PlatformUrl = DEFAULT_URL, api_key: ApiKey = None, as_json: Json = False) -> None:
    """One job: status, model, result."""
    try:
        job = PlatformClient(base_url, api_key).json("GET", f"/fine_tuning/jobs/{job_id}")
    except Exception as error:
        raise fail(error) from None
    _print(job, as_json)


@app.command()
def cancel(job_id: str, base_url: PlatformUrl = DEFAULT_URL, api_key: ApiKey = None, as_json: Json = False) -> None:
    """Cancel a job: its worker is stopped within seconds; its checkpoints stay."""
    try:
        job = PlatformClient(base_url, api_key).json("POST", f"/fine_tuning/jobs/{job_id}/cancel")
    except Exception as error:
        raise fail(error) from None
    _print(job, as_json)


@app.command()
def events(
    job_id: str,
    follow: Annotated[bool, typer.Option(help="Keep printing until the job ends.")] = False,
    base_url: PlatformUrl = DEFAULT_URL,
    api_key: ApiKey = None,
    as_json: Json = False,
) -> None:
    """A job's events, oldest first (one JSON object per line with --json)."""
    try:
        client = PlatformClient(base_url, api_key)
        if follow:
            _follow(client, job_id)
            return
        data = client.json("GET", f"/fine_tuning/jobs/{job_id}/events", params={"limit": 1000})["data"]
    except Exception as error:
        raise fail(error) from None
    for event in reversed(data):
        print(json.dumps(event) if as_json else f"{event['level']:>7}  {event['message']}")
