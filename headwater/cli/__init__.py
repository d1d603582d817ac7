"""The `headwater` command line: one typer app, one module per command group."""

from __future__ import annotations

import typer

from headwater.cli import (
    annotate,
    batches,
    bench,
    cft,
    chat,
    detect,
    distill,
    files,
    finetune,
    footprint,
    guard,
    judge,
    keys,
    ps,
    redteam,
    scheduler,
    serve,
)

app = typer.Typer(
    name="headwater",
    help="Headwater: train, judge, harden, serve and account for language models.",
    no_args_is_help=True,
    add_completion=False,
)
app.command("up")(serve.up)
app.command("serve")(serve.serve)
app.command("ps")(ps.ps)
app.command("chat")(chat.chat)
app.command("distill")(distill.distill)
app.add_typer(keys.app, name="keys")
app.add_typer(scheduler.app, name="scheduler")
app.add_typer(footprint.app, name="footprint")
app.add_typer(cft.app, name="cft")
app.add_typer(cft.sft_app, name="sft")
app.add_typer(judge.app, name="judge")
app.add_typer(detect.app, name="detect")
detect.app.add_typer(annotate.app, name="annotate")
app.add_typer(redteam.app, name="redteam")
app.add_typer(guard.app, name="guard")
app.add_typer(bench.app, name="bench")
app.add_typer(files.app, name="files")
app.add_typer(batches.app, name="batches")
app.add_typer(finetune.app, name="finetune")


def main() -> None:
    app()
