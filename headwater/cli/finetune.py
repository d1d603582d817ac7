"""`headwater finetune create|list|show|cancel|events`: the fine-tuning API of a running platform."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from headwater.cli.jobs import exit_unless_succeeded
from headwater.cli.jobs import follow as follow_job
from headwater.cli.options import Json, failing, option_groups
from headwater.cli.platform_client import Platform, PlatformClient, record_command, show_list
from headwater.cli.platform_client import show as show_record

app = typer.Typer(help="Fine-tune a served model on an uploaded file, on a running platform.")
out = Console()


def _print(job: dict[str, Any]) -> None:
    error = (job.get("error") or {}).get("message")
    model = job.get("fine_tuned_model") or "—"
    out.print(f"{job['id']}  {job['status']}  {job['model']} → {model}" + (f"  ({error})" if error else ""))


def _lines(jobs: list[dict[str, Any]]) -> None:
    for job in jobs:
        _print(job)


def _event_line(event: dict[str, Any]) -> str:
    return f"{event['level']:>7}  {event['message']}"


def _events(client: PlatformClient, job_id: str) -> list[dict[str, Any]]:
    """The job's events, oldest first."""
    return client.json("GET", f"/fine_tuning/jobs/{job_id}/events", params={"limit": 1000})["data"][::-1]


@app.command()
@option_groups
def create(
    model: Annotated[str, typer.Option(help="A model the platform serves.")],
    file: Annotated[Path | None, typer.Option(help="A local JSONL file to upload as the training file.")] = None,
    training_file: Annotated[str | None, typer.Option(help="An uploaded file's id (file-…).")] = None,
    method: Annotated[
        str,
        typer.Option(help="supervised (SFT), dpo (preference pairs), cft (critique lines) or distill (--teacher)."),
    ] = "supervised",
    validation_file: Annotated[
        str | None, typer.Option(help="An uploaded file's id: what the evaluate stage judges (else a held-out slice).")
    ] = None,
    teacher: Annotated[str | None, typer.Option(help="distill: the teacher, a served model or a built-in.")] = None,
    loss: Annotated[str | None, typer.Option(help="distill: taid (default) or a baseline loss (kl, rkl, …).")] = None,
    suffix: Annotated[str | None, typer.Option(help="Part of the new model's name: ft:<model>:<suffix>:<id>.")] = None,
    epochs: Annotated[int | None, typer.Option(help="n_epochs (default: the server's).")] = None,
    batch_size: Annotated[int | None, typer.Option(help="batch_size (default: the server's).")] = None,
    lora: Annotated[
        int | None, typer.Option(help="Train LoRA adapters of this rank (alpha 2 × rank), merged before serving.")
    ] = None,
    beta: Annotated[float | None, typer.Option(help="dpo: beta, the strength of the KL term (default 0.1).")] = None,
    follow: Annotated[
        bool, typer.Option(help="Live view of its progress and events until it ends (exit 1 unless it succeeds).")
    ] = False,
    *,
    platform: Platform,
    as_json: Json = False,
) -> None:
    """Create a fine-tuning job; with --follow, show it live on stderr until it ends."""
    with failing():
        if (file is None) == (training_file is None):
            raise typer.BadParameter("give exactly one of --file and --training-file")
        client = platform.client()
        if file is not None:
            training_file = client.upload(file, "fine-tune")["id"]
        given = (("n_epochs", epochs), ("batch_size", batch_size), ("beta", beta))
        hyper: dict[str, object] = {k: v for k, v in given if v is not None}
        if lora is not None:
            hyper["lora"] = {"r": lora}
        settings: dict[str, object] = {"hyperparameters": hyper}
        settings.update({k: v for k, v in (("teacher", teacher), ("loss", loss)) if v is not None})
        body = {"model": model, "training_file": training_file, "method": {"type": method, method: settings}}
        if suffix:
            body["suffix"] = suffix
        if validation_file:
            body["validation_file"] = validation_file
        job = client.json("POST", "/fine_tuning/jobs", json=body)
        if follow:
            follow_job(client, job["id"])
            job = client.json("GET", f"/fine_tuning/jobs/{job['id']}")
    show_record(job, as_json, _print)
    if follow:
        exit_unless_succeeded(job["status"])


@app.command("list")
@option_groups
def list_jobs(platform: Platform, as_json: Json = False) -> None:
    """Your fine-tuning jobs, newest first."""
    show_list(platform.call("GET", "/fine_tuning/jobs")["data"], as_json, _lines)


record_command(app, "show", "GET", "/fine_tuning/jobs/{job_id}", _print, "One job: status, model, result.")
record_command(
    app,
    "cancel",
    "POST",
    "/fine_tuning/jobs/{job_id}/cancel",
    _print,
    "Cancel a job: its worker is stopped within seconds; its checkpoints stay.",
)


@app.command()
@option_groups
def events(
    job_id: str,
    follow: Annotated[bool, typer.Option(help="Keep printing until the job ends.")] = False,
    *,
    platform: Platform,
    as_json: Json = False,
) -> None:
    """A job's events, oldest first (one JSON object per line with --json)."""
    if follow:
        with failing():
            job = follow_job(platform.client(), job_id, as_json)
        exit_unless_succeeded(job["state"])
        return
    with failing():
        data = _events(platform.client(), job_id)
    for event in data:
        print(json.dumps(event) if as_json else _event_line(event))
