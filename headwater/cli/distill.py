"""`headwater distill`: distil a teacher into a student with TAID or a baseline loss, with live progress."""

from __future__ import annotations

import json
import math
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeRemainingColumn

from headwater.errors import HeadwaterError
from headwater.train.methods import METHODS

if TYPE_CHECKING:
    from headwater.train.distillation import DistillStep

err = Console(stderr=True)


def distill(
    teacher: Annotated[str, typer.Option(help="Teacher: HF id, local folder or built-in (tiny-teacher).")],
    student: Annotated[str, typer.Option(help="Student: HF id, local folder or built-in (tiny-chat).")],
    data: Annotated[Path, typer.Option(help="JSONL: {messages: [...]} or {prompt, response} per line.")],
    output: Annotated[Path, typer.Option(help="Folder for checkpoints and the distilled student.")],
    method: Annotated[str, typer.Option(help=f"One of {', '.join(METHODS)}.")] = "taid",
    generate_targets: Annotated[bool, typer.Option(help="Let the teacher write the responses first.")] = False,
    target_tokens: Annotated[int, typer.Option(help="Most tokens per generated target.")] = 128,
    t_start: Annotated[float, typer.Option(help="TAID's initial t (paper: 0.4 or 0.2 by pair).")] = 0.4,
    taid_alpha: Annotated[float, typer.Option(help="TAID's adaptive step size α.")] = 5e-4,
    adaptive: Annotated[bool, typer.Option(help="TAID's adaptive schedule (off: the linear ramp).")] = True,
    epochs: Annotated[float, typer.Option(help="Passes over the data (ignored with --max-steps).")] = 1.0,
    max_steps: Annotated[int, typer.Option(help="Optimiser steps (0: from --epochs).")] = 0,
    batch_size: Annotated[int, typer.Option(help="Examples per micro-batch.")] = 8,
    grad_accum: Annotated[int, typer.Option(help="Micro-batches per optimiser step.")] = 1,
    lr: Annotated[float, typer.Option(help="AdamW learning rate (paper: 1e-4, cosine).")] = 1e-4,
    max_length: Annotated[int, typer.Option(help="Tokens per example, prompt included.")] = 512,
    temperature: Annotated[float, typer.Option(help="Softmax temperature of both models.")] = 1.0,
    include_prompt: Annotated[bool, typer.Option(help="Distil prompt tokens too (the official runs did).")] = False,
    data_dir: Annotated[Path, typer.Option(help="Where built-in models live.")] = Path(".headwater"),
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON summary object on stdout.")] = False,
) -> None:
    """Distil TEACHER into STUDENT with TAID (Shing et al., ICLR 2025) or kl, rkl, tvd, skew_kl, skew_rkl, jsd.

    Example: headwater distill --teacher tiny-teacher --student tiny-chat --data chats.jsonl --output out/"""
    from headwater.train.data import read_conversations
    from headwater.train.distillation import DistillConfig, distill

    try:
        config = DistillConfig(
            teacher,
            student,
            method,
            generate_targets,
            target_tokens,
            t_start,
            taid_alpha,
            adaptive,
            epochs,
            max_steps,
            batch_size,
            grad_accum,
            lr,
            max_length,
            temperature,
            include_prompt,
            data_dir,
            seed,
        )
        conversations = read_conversations(data, require_response=not generate_targets)
        with _Bars(method) as bars:
            result = distill(config, conversations, output, bars.on_step, bars.on_targets)
    except HeadwaterError as error:
        err.print(f"[red]error:[/] {error.message}")
        raise typer.Exit(2) from None
    if as_json:
        print(json.dumps(result.to_dict()))
    else:
        err.print(f"distilled student saved to [bold]{result.model}[/] (loss {result.train_loss:.4f})")


class _Bars:
    """Two rich bars on stderr: the teacher writing targets, then the training steps."""

    def __init__(self, method: str) -> None:
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total}"),
            TextColumn("loss {task.fields[loss]:.4f}"),
            TextColumn("t {task.fields[t]:.3f}"),
            TextColumn("{task.fields[rate]:.0f} tok/s"),
            TimeRemainingColumn(),
            console=err,
        )
        self.method = method
        self.targets: TaskID | None = None
        self.steps: TaskID | None = None

    def __enter__(self) -> _Bars:
        self.progress.__enter__()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.progress.__exit__(kind, error, traceback)

    def on_targets(self, done: int, total: int) -> None:
        if self.targets is None:
            self.targets = self.progress.add_task(
                "teacher writes targets", total=total, loss=math.nan, t=math.nan, rate=0.0
            )
        self.progress.update(self.targets, completed=done)

    def on_step(self, step: DistillStep) -> None:
        if self.steps is None:
            self.steps = self.progress.add_task(self.method, total=step.total, loss=math.nan, t=math.nan, rate=0.0)
        loss = math.nan if step.loss is None else step.loss
        t = math.nan if step.t is None else step.t
        self.progress.update(self.steps, completed=step.step, loss=loss, t=t, rate=step.tokens_per_s)
