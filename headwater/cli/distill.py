"""`headwater distill`: distil a teacher into a student with TAID or a baseline loss, with live progress."""

from __future__ import annotations

import functools
import json
import math
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from transformers import TrainerCallback, TrainingArguments

from headwater.errors import HeadwaterError, InvalidRequestError
from headwater.models.fine_tuning import quiet, save_final
from headwater.models.generator import GenerationParams
from headwater.models.hf_generator import HFGenerator
from headwater.models.loading import load_model, load_tokenizer
from headwater.train.data import Conversation, collate, encode, read_conversations
from headwater.train.taid import TAIDSchedule
from headwater.train.trainer import METHODS, DistillationTrainer, check_compatible

err = Console(stderr=True)


class _RichProgress(TrainerCallback):
    """Step, loss, t, tokens/s and ETA on stderr."""

    def __init__(self, progress: Progress, task: int, tokens_per_step: float) -> None:
        self.progress, self.task, self.tokens_per_step = progress, task, tokens_per_step
        self.started = time.perf_counter()
        self.fields = {"loss": math.nan, "t": math.nan}

    def on_train_begin(self, args, state, control, **kwargs):  # noqa: ANN001, ANN201 - transformers' signature
        self.progress.update(self.task, total=state.max_steps)

    def on_log(self, args, state, control, logs=None, **kwargs):  # noqa: ANN001, ANN201
        logs = logs or {}
        self.fields["loss"] = logs.get("loss", self.fields["loss"])
        self.fields["t"] = logs.get("taid_t", self.fields["t"])

    def on_step_end(self, args, state, control, **kwargs):  # noqa: ANN001, ANN201
        rate = state.global_step * self.tokens_per_step / max(1e-9, time.perf_counter() - self.started)
        self.progress.update(
            self.task, completed=state.global_step, loss=self.fields["loss"], t=self.fields["t"], rate=rate
        )


def _targets(conversations: list[Conversation], teacher: HFGenerator, max_tokens: int) -> list[Conversation]:
    prompts = [conversation.prompt for conversation in conversations]
    generations = []
    with Progress(
        TextColumn("teacher writes targets"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeRemainingColumn(),
        console=err,
    ) as progress:
        task = progress.add_task("targets", total=len(prompts))
        for start in range(0, len(prompts), teacher.batch_size):
            batch = prompts[start : start + teacher.batch_size]
            generations += teacher.generate(batch, GenerationParams(max_tokens=max_tokens, temperature=0.0))
            progress.advance(task, len(batch))
    return [Conversation(c.prompt, g.text) for c, g in zip(conversations, generations, strict=True)]


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
    try:
        if method not in METHODS:
            raise InvalidRequestError(f"unknown method {method!r}; allowed: {', '.join(METHODS)}", param="method")
        conversations = read_conversations(data, require_response=not generate_targets)
        tokenizer = load_tokenizer(student, data_dir=data_dir)
        teacher_model = load_model(teacher, data_dir=data_dir)
        student_model = load_model(student, data_dir=data_dir).train()
        width = check_compatible(student_model, teacher_model, tokenizer, load_tokenizer(teacher, data_dir=data_dir))
        if generate_targets:
            conversations = _targets(conversations, HFGenerator(teacher_model, tokenizer, teacher), target_tokens)
        examples = [encode(c, tokenizer, max_length, include_prompt) for c in conversations]
    except HeadwaterError as error:
        err.print(f"[red]error:[/] {error.message}")
        raise typer.Exit(2) from None
    per_step = batch_size * grad_accum
    args = TrainingArguments(
        output_dir=str(output),
        per_device_train_batch_size=batch_size,
        gradient_accumulation_steps=grad_accum,
        max_steps=max_steps or -1,  # -1: the Trainer counts the steps of `epochs` from its own dataloader
        num_train_epochs=epochs,
        learning_rate=lr,
        lr_scheduler_type="cosine",
        max_grad_norm=1.0,
        logging_steps=1,
        save_strategy="steps",
        save_steps=0.25,  # a share of the run's steps
        save_total_limit=2,
        report_to="none",
        disable_tqdm=True,
        seed=seed,
        log_level="error",
    )
    # total_steps unset: the trainer sets it to the optimiser steps it runs (accumulation, epochs, processes)
    schedule = TAIDSchedule(t_start=t_start, alpha=taid_alpha, adaptive=adaptive) if method == "taid" else None
    trainer = DistillationTrainer(
        model=student_model,
        args=args,
        train_dataset=examples,
        teacher=teacher_model,
        method=method,
        schedule=schedule,
        vocab_size=width,
        temperature=temperature,
        data_collator=functools.partial(collate, pad_id=tokenizer.pad_token_id),
    )
    quiet(trainer)  # logs go to the rich bar on stderr; stdout is kept for --json
    tokens_per_step = per_step * sum(len(e["input_ids"]) for e in examples) / len(examples)
    with Progress(
        TextColumn(f"{method}"),
        BarColumn(),
        TextColumn("step {task.completed}/{task.total}"),
        TextColumn("loss {task.fields[loss]:.4f}"),
        TextColumn("t {task.fields[t]:.3f}"),
        TextColumn("{task.fields[rate]:.0f} tok/s"),
        TimeRemainingColumn(),
        console=err,
    ) as progress:
        task = progress.add_task("distill", total=None, loss=math.nan, t=math.nan, rate=0.0)
        trainer.add_callback(_RichProgress(progress, task, tokens_per_step))
        result = trainer.train()
    final = save_final(trainer, tokenizer, output)
    summary = {
        "method": method,
        "steps": trainer.state.global_step,
        "train_loss": result.training_loss,
        "examples": len(examples),
        "t": schedule.t if schedule else None,
        "model": str(final),
    }
    (output / "distill_summary.json").write_text(json.dumps(summary, indent=2))
    if as_json:
        print(json.dumps(summary))
    else:
        err.print(f"distilled student saved to [bold]{final}[/] (loss {result.training_loss:.4f})")
