"""The `headwater` command line: one typer app, one module per command group."""

from __future__ import annotations

from collections.abc import Callable

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
    jobs,
    judge,
    keys,
    ps,
    redteam,
    redteam_remote,
    remote,
    scheduler,
    serve,
)

app = typer.Typer(
    name="headwater",
    help="Headwater: train, judge, harden, serve and account for language models.",
    no_args_is_help=True,
    add_completion=False,
)
COMMANDS: dict[str, Callable[..., None]] = {
    "up": serve.up,
    "serve": serve.serve,
    "ps": ps.ps,
    "chat": chat.chat,
    "moderate": remote.moderate,
    "distill": distill.distill,
}
"""The top-level commands, by name, in the order `headwater --help` lists them."""
GROUPS = {
    "keys": keys.app,
    "scheduler": scheduler.app,
    "footprint": footprint.app,
    "cft": cft.app,
    "sft": cft.sft_app,
    "judge": judge.app,
    "detect": detect.app,
    "redteam": redteam.app,
    "guard": guard.app,
    "bench": bench.app,
    "files": files.app,
    "batches": batches.app,
    "finetune": finetune.app,
    "jobs": jobs.app,
}
"""The command groups (`headwater NAME ...`), likewise."""
for name, command in COMMANDS.items():
    app.command(name)(command)
detect.app.add_typer(annotate.app, name="annotate")
judge.app.command("remote")(remote.judge_remote)
detect.app.command("remote")(remote.detect_remote)
footprint.app.command("remote")(remote.footprint_remote)
redteam.app.add_typer(redteam_remote.app, name="remote")
guard.app.command("attack-remote")(redteam_remote.attack_remote)
for name, group in GROUPS.items():
    app.add_typer(group, name=name)


def main() -> None:
    app()
