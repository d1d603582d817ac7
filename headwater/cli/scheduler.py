"""`headwater scheduler train-predictor` and `build-heatmap`: the learned parts of the `deepflow` routing policy, the
output-length predictor (from the platform's own logged requests, see `headwater.platform.predictor`) and the PD
heatmap (measured on this machine, see `headwater.platform.heatmap_study`)."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from headwater.cli.options import Json, failing
from headwater.config import Settings
from headwater.models.loading import resolve_model
from headwater.platform.heatmap_study import GatewayJct, Measurement, Study, StudyGrid, plot_heatmap, run_study
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


def _numbers(text: str, flag: str, kind: type[float] = float) -> tuple[float, ...]:
    """A comma-separated list of numbers, or a bad-usage exit naming the flag."""
    try:
        return tuple(kind(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not a comma-separated list of numbers", param_hint=flag) from None


@app.command("build-heatmap")
def build_heatmap(
    model: Annotated[str, typer.Option(help="Model to study: built-in name, Hugging Face id or local folder.")] = (
        "tiny-chat"
    ),
    prompt_lengths: Annotated[
        str, typer.Option(help="Prompt lengths in tokens, ascending (the heatmap's row edges).")
    ] = "128,384",
    ratios: Annotated[str, typer.Option(help="Decode/prompt ratios, ascending (the column edges).")] = "0.25,1",
    rates: Annotated[str, typer.Option(help="Request rates per second; each cell sums its gain over them.")] = "2,8",
    requests: Annotated[int, typer.Option(min=1, help="Requests per cell, rate and serving mode.")] = 8,
    colocated_tes: Annotated[int, typer.Option(min=1, help="Colocated TEs the 1P1D pair is compared with.")] = 2,
    output: Annotated[
        Path | None,
        typer.Option(
            help="Heatmap JSON to write (default: DATA_DIR/pd_heatmap.json); its PNG and the gateway log beside it."
        ),
    ] = None,
    data_dir: Annotated[Path, typer.Option(help="Where built-in models live.")] = Path(".headwater"),
    seed: Annotated[int, typer.Option(help="Seed of the random prompts.")] = 0,
    as_json: Json = False,
) -> None:
    """Measure JCT colocated vs a 1P1D pair on this machine over a grid of prompt lengths × decode/prompt ratios ×
    request rates; save the heatmap (JCT_colo / JCT_disagg − 1, summed over rates) as JSON and PNG. Name the JSON as
    a catalogue entry's `heatmap:` for the `deepflow` policy. Defaults take a few minutes with tiny-chat on 2 cores."""
    grid_values = (
        tuple(int(v) for v in _numbers(prompt_lengths, "--prompt-lengths", int)),
        _numbers(ratios, "--ratios"),
        _numbers(rates, "--rates"),
    )
    with failing():
        grid = StudyGrid(*grid_values, requests=requests, seed=seed)
        source = resolve_model(model, data_dir)
        source = str(Path(source).resolve()) if Path(source).exists() else source
        json_path = output or data_dir / "pd_heatmap.json"
        with tempfile.TemporaryDirectory(prefix="headwater-heatmap-") as folder:
            log = json_path.with_suffix(".log")
            with GatewayJct(source, Path(folder), grid, colocated_tes, log) as measure:
                study = run_study(grid, measure, _progress)
        study.model = model
        study.save(json_path)
        png_path = json_path.with_suffix(".png")
        plot_heatmap(study, png_path)
    if as_json:
        print(json.dumps({**study.to_json(), "path": str(json_path), "png": str(png_path)}))
        return
    _print_table(study)
    out.print(f"saved {json_path} and {png_path}; use it with `heatmap: {json_path}` in a catalogue entry")


def _progress(measurement: Measurement) -> None:
    err.print(
        f"{measurement.prompt_tokens} prompt tokens, ratio {measurement.ratio:g}, {measurement.rate:g} req/s: "
        f"JCT colocated {measurement.jct_colocated_s:.2f} s, 1P1D {measurement.jct_disaggregated_s:.2f} s "
        f"({measurement.gain:+.2f})",
        soft_wrap=True,
    )


def _print_table(study: Study) -> None:
    heatmap = study.heatmap()
    table = Table(title="JCT colocated / 1P1D − 1, summed over rates (positive: disaggregate)")
    table.add_column("prompt tokens ≤", justify="right")
    for ratio in heatmap.ratios:
        table.add_column(f"ratio ≤ {ratio:g}", justify="right")
    for length, row in zip(heatmap.prompt_lengths, heatmap.gain, strict=True):
        table.add_row(str(length), *(f"{value:+.2f}" for value in row))
    out.print(table)
