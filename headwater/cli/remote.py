"""The commands that use a running platform's services instead of loading models here: `headwater moderate`
(`/v1/moderations`), `judge remote` (`/v1/judgements`), `detect remote` (`/v1/detections`) and `footprint remote`
(`/v1/footprint/reports`). A file becomes a job: it is uploaded (purpose `evals`), the job started, and with
`--follow` watched live (`headwater jobs`' view) and its result file saved with `--output`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from headwater.cli.jobs import exit_unless_succeeded, follow
from headwater.cli.judge import DEFAULT_TEMPLATE, Order, Retries, Samples, Seed
from headwater.cli.options import Json, err, failing, option_groups
from headwater.cli.platform_client import Platform, show
from headwater.footprint.factors import read_yaml

out = Console()
Follow = Annotated[
    bool,
    typer.Option("--follow", help="Live view of its progress and events until it ends (exit 1 unless it succeeds)."),
]
Output = Annotated[Path | None, typer.Option(help="With --follow: save the job's result file here.")]


def _print_job(job: dict[str, Any]) -> None:
    error = f"  ({job['error']})" if job.get("error") else ""
    out.print(f"{job['id']}  {job['kind']}  {job['state']}  {job['progress']:.0%}{error}", highlight=False)
    if job.get("result"):
        out.print_json(json.dumps(job["result"]))
    for role, file_id in sorted(job.get("files", {}).items()):
        out.print(f"{role}: {file_id}  (headwater files download {file_id})", highlight=False)


def start_job(
    platform: Platform,
    route: str,
    body: dict[str, Any],
    *,
    upload: Path | None = None,
    follow_: bool = False,
    output: Path | None = None,
    as_json: bool = False,
) -> None:
    """POST `body` to `route` (its `file_id` the upload of `upload`, when given) and print the job; with `follow_`,
    watch it to its end, save its result file (its only one, or `report`) to `output`, exit 1 unless it succeeded."""
    with failing():
        client = platform.client()
        if upload is not None:
            body = {**body, "file_id": client.upload(upload, "evals")["id"]}
        job = client.json("POST", route, json=body)
        if follow_:
            job = follow(client, job["id"])
            files = job["files"]
            if output is not None and files:
                file_id = files.get("report") or next(iter(files.values()))
                output.write_bytes(client.request("GET", f"/files/{file_id}/content").content)
                err.print(f"saved {file_id} to {output}")
    show(job, as_json, _print_job)
    if follow_:
        exit_unless_succeeded(job["state"])


@option_groups
def judge_remote(
    file: Annotated[Path, typer.Argument(help="Benchmark JSONL, the lines `judge bench` reads (see docs/judge.md).")],
    model: Annotated[str, typer.Option(help="A model the platform serves, that judges.")],
    kind: Annotated[str, typer.Option(help="pairwise, absolute or classification.")] = "pairwise",
    order: Order = "random",
    seed: Seed = 0,
    policy: Annotated[str, typer.Option(help="Parse failures count as wrong, half, or are dropped.")] = "wrong",
    retries: Retries = 1,
    samples: Samples = 1,
    max_tokens: Annotated[int, typer.Option(help="Most tokens of each verdict.")] = 512,
    template: Annotated[str, typer.Option(help="headwater or prometheus.")] = DEFAULT_TEMPLATE,
    follow_: Follow = False,
    output: Output = None,
    *,
    platform: Platform,
    as_json: Json = False,
) -> None:
    """Judge a benchmark file with a served model, as a job on the platform (`judge bench`, remotely): its result
    file is the bench report."""
    body = {"model": model, "kind": kind, "order": order, "seed": seed, "policy": policy, "retries": retries}
    body |= {"samples": samples, "max_tokens": max_tokens, "template": template}
    start_job(platform, "/judgements", body, upload=file, follow_=follow_, output=output, as_json=as_json)


@option_groups
def detect_remote(
    file: Annotated[Path | None, typer.Argument(help="JSONL with a `text` (and an optional `id`) per line.")] = None,
    text: Annotated[str | None, typer.Option(help="One text, checked at once instead of a file.")] = None,
    explain: Annotated[bool, typer.Option(help="clues: the top clues behind each score.")] = True,
    follow_: Follow = False,
    output: Output = None,
    *,
    detector: Annotated[str, typer.Option(help="A stored calibration's name (/v1/detections/calibrations).")],
    platform: Platform,
    as_json: Json = False,
) -> None:
    """Check a text (at once) or a file of texts (as a job) with one of your calibrated detectors on the platform."""
    if (file is None) == (text is None):
        raise typer.BadParameter("give either FILE or --text")
    body = {"detector": detector, "explain": explain}
    if text is not None:
        answer = platform.call("POST", "/detections", json={**body, "text": text})
        print(json.dumps(answer) if as_json else json.dumps(answer, indent=2))
        return
    start_job(platform, "/detections", body, upload=file, follow_=follow_, output=output, as_json=as_json)


@option_groups
def footprint_remote(
    file: Annotated[
        Path | None,
        typer.Argument(help="YAML portfolio (as `footprint report` reads); default: the paper's portfolio."),
    ] = None,
    follow_: Follow = False,
    output: Annotated[Path | None, typer.Option(help="With --follow: save the HTML report here.")] = None,
    *,
    platform: Platform,
    as_json: Json = False,
) -> None:
    """The portfolio's HTML report (totals, split by use case, 2030 scenarios), made by a job on the platform."""
    with failing():
        document = read_yaml(file) if file is not None else {}
    body: dict[str, Any] = {"factors": document.pop("factors", None) or {}}
    if "scenarios" in document:
        body["scenarios"] = document.pop("scenarios")
    body["portfolio"] = document
    start_job(platform, "/footprint/reports", body, follow_=follow_, output=output, as_json=as_json)


@option_groups
def moderate(
    texts: Annotated[list[str] | None, typer.Argument(help="Texts to moderate, each on its own.")] = None,
    file: Annotated[Path | None, typer.Option(help="A text file: each non-blank line is one text.")] = None,
    model: Annotated[str | None, typer.Option(help="The guard: the platform's (default) or a served model.")] = None,
    *,
    platform: Platform,
    as_json: Json = False,
) -> None:
    """Moderate texts with the platform's guard (`/v1/moderations`): flagged or not, and the flagged categories."""
    items = list(texts or [])
    if file is not None:
        with failing():
            items += [line for line in file.read_text(encoding="utf-8").splitlines() if line.strip()]
    if not items:
        raise typer.BadParameter("give texts as arguments or --file")
    body: dict[str, Any] = {"input": items, **({"model": model} if model else {})}
    answer = platform.call("POST", "/moderations", json=body)
    if as_json:
        print(json.dumps(answer))
        return
    grid = Table("text", "flagged", "categories", title=f"moderation by {answer['model']}")
    for text, result in zip(items, answer["results"], strict=True):
        flagged = [name for name, on in result["categories"].items() if on]
        grid.add_row(text[:60], "[red]yes[/]" if result["flagged"] else "no", ", ".join(flagged))
    out.print(grid)
