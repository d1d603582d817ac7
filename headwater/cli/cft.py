"""`headwater cft sample|build-data|train` and `headwater sft train`: critique fine-tuning and its baseline."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from headwater.cli.options import ApiKey, DataDir, Json, fail, generator_for
from headwater.errors import HeadwaterError, InvalidRequestError
from headwater.jsonl import read_jsonl
from headwater.train.cft import cft_row, sft_row
from headwater.train.critique_data import TEACHER_PARAMS, build_critique_data, sample_responses
from headwater.train.methods import SELECT_BY

if TYPE_CHECKING:  # torch, transformers and TRL load only when a command trains
    from headwater.train.selection import SelectionConfig
    from headwater.train.sft import FineTuneConfig, FineTuneResult

app = typer.Typer(help="Critique fine-tuning (CFT): sample responses, build critiques, train.", no_args_is_help=True)
sft_app = typer.Typer(help="The SFT baseline on (question, answer) pairs.", no_args_is_help=True)
err = Console(stderr=True)
GradAccum = Annotated[
    int, typer.Option(help="Micro-batches per optimiser step (paper: 8 per device × 8 × 8 GPUs = 512 per step).")
]
ValidationFile = Annotated[
    Path | None,
    typer.Option(help="JSONL of question, reference: keep the checkpoint that answers it best (paper: MATH-500)."),
]
EvalSteps = Annotated[int, typer.Option(help="Score on --validation-file every N optimiser steps (paper: 2).")]
SelectBy = Annotated[str, typer.Option(help=f"Score used to pick the checkpoint: {' or '.join(SELECT_BY)}.")]
JudgeModel = Annotated[str | None, typer.Option(help="Judge model for --select-by judge: HF id, built-in or served.")]
JudgeBaseUrl = Annotated[str | None, typer.Option(help="OpenAI-compatible base URL of the judge.")]
EvalMaxTokens = Annotated[int, typer.Option(help="Most tokens per validation answer.")]


def _jsonl(path: Path, fields: tuple[str, ...]) -> list[dict]:
    rows = []
    for number, row in read_jsonl(path, "example"):
        for name in fields:
            if not isinstance(row, dict) or not isinstance(row.get(name), str):
                raise InvalidRequestError(f"line {number}: field {name!r} must be a string", param=f"line {number}")
        rows.append(row)
    return rows


@app.command()
def sample(
    questions: Annotated[Path, typer.Argument(help="JSONL: question, optional reference (final answer).")],
    model: Annotated[str, typer.Option(help="Model that answers: HF id, folder, built-in or served name.")],
    output: Annotated[Path, typer.Option(help="JSONL of question, response, reference, response_correct.")],
    base_url: Annotated[str | None, typer.Option(help="OpenAI-compatible base URL of a served model.")] = None,
    api_key: Annotated[str | None, typer.Option(help="API key (default HEADWATER_API_KEY / OPENAI_API_KEY).")] = None,
    samples: Annotated[int, typer.Option(help="Responses drawn per question.")] = 4,
    keep: Annotated[int, typer.Option(help="Responses kept per question.")] = 2,
    correct_share: Annotated[float, typer.Option(help="Share of kept responses that are correct.")] = 0.5,
    concurrency: Annotated[int, typer.Option(help="Requests or batch size at once.")] = 8,
    data_dir: DataDir = Path(".headwater"),
    as_json: Json = False,
) -> None:
    """Draw candidate responses for a question file, keeping a mix of correct and incorrect ones."""
    try:
        rows = sample_responses(
            _jsonl(questions, ("question",)),
            generator_for(model, base_url, api_key, data_dir, concurrency),
            samples,
            keep,
            correct_share,
        )
    except HeadwaterError as error:
        raise fail(error) from None
    output.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    correct = sum(1 for row in rows if row.get("response_correct"))
    summary = {"output": str(output), "responses": len(rows), "correct": correct}
    if as_json:
        print(json.dumps(summary))
    else:
        err.print(f"wrote {len(rows)} responses ({correct} correct) to {output}")


@app.command("build-data")
def build_data(
    file: Annotated[Path, typer.Argument(help="JSONL: question, response, optional reference, response_correct.")],
    teacher: Annotated[str, typer.Option(help="Teacher model: HF id, folder, built-in or served name.")],
    output: Annotated[Path, typer.Option(help="Output JSONL; re-running with it resumes.")],
    teacher_base_url: Annotated[str | None, typer.Option(help="OpenAI-compatible base URL of the teacher.")] = None,
    api_key: ApiKey = None,
    check_reference: Annotated[
        bool, typer.Option(help="Drop critiques whose verdict disagrees with response_correct.")
    ] = False,
    concurrency: Annotated[int, typer.Option(help="Items sent to the teacher at once.")] = 8,
    attempts: Annotated[int, typer.Option(help="Tries per item when the verdict does not parse.")] = 3,
    teacher_max_tokens: Annotated[
        int, typer.Option(help="Most tokens per critique (official: 3200; shorter ones lose their Conclusion).")
    ] = TEACHER_PARAMS.max_tokens,
    data_dir: DataDir = Path(".headwater"),
    as_json: Json = False,
) -> None:
    """Ask a teacher for a step-by-step critique of each response ending in a verdict (resumable)."""
    try:
        generator = generator_for(teacher, teacher_base_url, api_key, data_dir, concurrency)
        total = sum(1 for line in file.read_text(encoding="utf-8").splitlines() if line.strip())
        with Progress(
            TextColumn("critiques"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total}"),
            TimeRemainingColumn(),
            console=err,
        ) as progress:
            task = progress.add_task("build", total=total)
            report = build_critique_data(
                file,
                output,
                generator,
                check_reference=check_reference,
                batch_size=concurrency,
                attempts=attempts,
                max_tokens=teacher_max_tokens,
                on_progress=lambda n: progress.advance(task, n),
            )
    except (HeadwaterError, OSError) as error:
        raise fail(error) from None
    summary = {
        "output": str(output),
        "written": report.written,
        "already_done": report.already_done,
        "duplicates": report.duplicates,
        "unparseable": report.unparseable,
        "dropped_by_reference": report.dropped_by_reference,
        "teacher_failures": report.teacher_failures,
        "rejected": len(report.rejected),
    }
    if as_json:
        print(json.dumps(summary))
    else:
        err.print(", ".join(f"{k} {v}" for k, v in summary.items()))
    for line, reason in report.rejected[:10]:
        err.print(f"[yellow]line {line}:[/] {reason} (in {output.name}.rejects.jsonl)")


@dataclass(frozen=True)
class _Selection:
    """The checkpoint-selection flags as given."""

    validation_file: Path | None
    eval_steps: int
    select_by: str
    judge: str | None
    judge_base_url: str | None
    api_key: str | None
    eval_max_tokens: int

    def config(self, data_dir: Path) -> SelectionConfig | None:
        from headwater.train.selection import SelectionConfig, read_validation

        if self.validation_file is None:
            if self.judge is not None or self.select_by != SELECT_BY[0]:
                raise InvalidRequestError("--select-by and --judge need --validation-file", param="validation_file")
            return None
        judge = generator_for(self.judge, self.judge_base_url, self.api_key, data_dir, 8) if self.judge else None
        return SelectionConfig(
            read_validation(self.validation_file),
            eval_steps=self.eval_steps,
            select_by=self.select_by,
            judge=judge,
            max_tokens=self.eval_max_tokens,
        )


def _summary(label: str, examples: int, result: FineTuneResult) -> dict:
    selection = result.selection
    return {
        "method": label,
        "examples": examples,
        "train_loss": result.train_loss,
        "model": str(result.model),
        "select_by": selection.select_by if selection else None,
        "best_step": selection.best_step if selection else None,
        "best_score": selection.best_score if selection else None,
        "validation_scores": [{"step": s, "score": v} for s, v in selection.scores] if selection else [],
    }


def _train(
    rows: list[dict],
    model: str,
    output: Path,
    config: FineTuneConfig,
    data_dir: Path,
    label: str,
    as_json: bool,
    selection: SelectionConfig | None,
) -> None:
    from headwater.cli.train_progress import ProgressBar
    from headwater.train.sft import fine_tune

    with Progress(
        TextColumn(label),
        BarColumn(),
        TextColumn("step {task.completed}/{task.total}"),
        TextColumn("loss {task.fields[loss]:.4f}"),
        TimeRemainingColumn(),
        console=err,
    ) as progress:
        task = progress.add_task(label, total=None, loss=float("nan"))
        result = fine_tune(model, rows, output, config, data_dir, [ProgressBar(progress, task)], selection)
    summary = _summary(label, len(rows), result)
    (output / f"{label}_summary.json").write_text(json.dumps(summary, indent=2))
    if as_json:
        print(json.dumps(summary))
        return
    kept = (
        f", best {summary['select_by']} {summary['best_score']:.4f} at step {summary['best_step']}" if selection else ""
    )
    err.print(f"{label}: saved {result.model} (loss {result.train_loss:.4f}{kept})")


def _config(
    max_steps: int, epochs: float, lr: float, batch_size: int, grad_accum: int, max_length: int, lora: bool
) -> FineTuneConfig:
    from headwater.train.sft import FineTuneConfig

    return FineTuneConfig(
        max_steps=max_steps,
        epochs=epochs,
        learning_rate=lr,
        batch_size=batch_size,
        grad_accum=grad_accum,
        max_length=max_length,
        lora=lora,
    )


@app.command()
def train(
    data: Annotated[Path, typer.Option(help="JSONL from build-data (question, response, critique).")],
    model: Annotated[str, typer.Option(help="Model to fine-tune: HF id, folder or built-in.")],
    output: Annotated[Path, typer.Option(help="Output folder.")],
    max_steps: Annotated[int, typer.Option(help="Optimiser steps (0: from --epochs).")] = 0,
    epochs: Annotated[float, typer.Option(help="Passes over the data.")] = 1.0,
    lr: Annotated[float, typer.Option(help="Learning rate (paper: 5e-6).")] = 5e-6,
    batch_size: Annotated[int, typer.Option(help="Examples per micro-batch (paper: 8 per device).")] = 8,
    grad_accum: GradAccum = 1,
    max_length: Annotated[int, typer.Option(help="Tokens per example.")] = 2048,
    lora: Annotated[bool, typer.Option(help="Train LoRA adapters instead of every weight.")] = False,
    validation_file: ValidationFile = None,
    eval_steps: EvalSteps = 2,
    select_by: SelectBy = SELECT_BY[0],
    judge: JudgeModel = None,
    judge_base_url: JudgeBaseUrl = None,
    api_key: ApiKey = None,
    eval_max_tokens: EvalMaxTokens = 2048,
    data_dir: DataDir = Path(".headwater"),
    as_json: Json = False,
) -> None:
    """Critique fine-tuning: learn the critique given the question and the response (loss on the critique).

    With --validation-file the model kept is the checkpoint that answers the validation questions best."""
    selection = _Selection(validation_file, eval_steps, select_by, judge, judge_base_url, api_key, eval_max_tokens)
    try:
        rows = [
            cft_row(r["question"], r["response"], r["critique"])
            for r in _jsonl(data, ("question", "response", "critique"))
        ]
        config = _config(max_steps, epochs, lr, batch_size, grad_accum, max_length, lora)
        _train(rows, model, output, config, data_dir, "cft", as_json, selection.config(data_dir))
    except HeadwaterError as error:
        raise fail(error) from None


@sft_app.command("train")
def sft_train(
    data: Annotated[Path, typer.Option(help="JSONL: question, answer.")],
    model: Annotated[str, typer.Option(help="Model to fine-tune: HF id, folder or built-in.")],
    output: Annotated[Path, typer.Option(help="Output folder.")],
    max_steps: Annotated[int, typer.Option(help="Optimiser steps (0: from --epochs).")] = 0,
    epochs: Annotated[float, typer.Option(help="Passes over the data.")] = 1.0,
    lr: Annotated[float, typer.Option(help="Learning rate.")] = 5e-6,
    batch_size: Annotated[int, typer.Option(help="Examples per micro-batch.")] = 8,
    grad_accum: GradAccum = 1,
    max_length: Annotated[int, typer.Option(help="Tokens per example.")] = 2048,
    lora: Annotated[bool, typer.Option(help="Train LoRA adapters instead of every weight.")] = False,
    validation_file: ValidationFile = None,
    eval_steps: EvalSteps = 2,
    select_by: SelectBy = SELECT_BY[0],
    judge: JudgeModel = None,
    judge_base_url: JudgeBaseUrl = None,
    api_key: ApiKey = None,
    eval_max_tokens: EvalMaxTokens = 2048,
    data_dir: DataDir = Path(".headwater"),
    as_json: Json = False,
) -> None:
    """The SFT baseline: learn the answer given the question, same settings as `cft train`."""
    selection = _Selection(validation_file, eval_steps, select_by, judge, judge_base_url, api_key, eval_max_tokens)
    try:
        rows = [sft_row(r["question"], r["answer"]) for r in _jsonl(data, ("question", "answer"))]
        config = _config(max_steps, epochs, lr, batch_size, grad_accum, max_length, lora)
        _train(rows, model, output, config, data_dir, "sft", as_json, selection.config(data_dir))
    except HeadwaterError as error:
        raise fail(error) from None
