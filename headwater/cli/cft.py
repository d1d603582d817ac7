"""`headwater cft sample|build-data|train` and `headwater sft train`: critique fine-tuning and its baseline."""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, cast

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from headwater.cli.options import ApiKey, DataDir, Endpoint, Json, fail, generator_for, option_groups
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
    rows: list[dict] = []
    for number, row in read_jsonl(path, "example"):
        for name in fields:
            if not isinstance(row, dict) or not isinstance(row.get(name), str):
                raise InvalidRequestError(f"line {number}: field {name!r} must be a string", param=f"line {number}")
        rows.append(cast(dict, row))  # a dict: checked with its first field
    return rows


@app.command()
@option_groups
def sample(
    questions: Annotated[Path, typer.Argument(help="JSONL: question, optional reference (final answer).")],
    model: Annotated[str, typer.Option(help="Model that answers: HF id, folder, built-in or served name.")],
    output: Annotated[Path, typer.Option(help="JSONL of question, response, reference, response_correct.")],
    endpoint: Endpoint,
    samples: Annotated[int, typer.Option(help="Responses drawn per question.")] = 4,
    keep: Annotated[int, typer.Option(help="Responses kept per question.")] = 2,
    correct_share: Annotated[float, typer.Option(help="Share of kept responses that are correct.")] = 0.5,
    concurrency: Annotated[int, typer.Option(help="Requests or batch size at once.")] = 8,
    as_json: Json = False,
) -> None:
    """Draw candidate responses for a question file, keeping a mix of correct and incorrect ones."""
    try:
        asked = _jsonl(questions, ("question",))
        rows = sample_responses(asked, endpoint.generator(model, concurrency), samples, keep, correct_share)
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
    summary = {"output": str(output), **asdict(report), "rejected": len(report.rejected)}
    if as_json:
        print(json.dumps(summary))
    else:
        err.print(", ".join(f"{k} {v}" for k, v in summary.items()))
    for line, reason in report.rejected[:10]:
        err.print(f"[yellow]line {line}:[/] {reason} (in {output.name}.rejects.jsonl)")


@dataclass(frozen=True)
class FineTuneOptions:
    """The training budget: FineTuneConfig's fields as the flags `cft train` and `sft train` share."""

    max_steps: Annotated[int, typer.Option(help="Optimiser steps (0: from --epochs).")] = 0
    epochs: Annotated[float, typer.Option(help="Passes over the data.")] = 1.0
    learning_rate: Annotated[float, typer.Option("--lr", help="Learning rate (CFT paper: 5e-6).")] = 5e-6
    batch_size: Annotated[int, typer.Option(help="Examples per micro-batch (CFT paper: 8 per device).")] = 8
    grad_accum: GradAccum = 1
    max_length: Annotated[int, typer.Option(help="Tokens per example.")] = 2048
    lora: Annotated[bool, typer.Option(help="Train LoRA adapters instead of every weight.")] = False

    def config(self) -> FineTuneConfig:
        from headwater.train.sft import FineTuneConfig

        return FineTuneConfig(**{field.name: getattr(self, field.name) for field in fields(FineTuneOptions)})


@dataclass(frozen=True)
class SelectionOptions:
    """The checkpoint-selection flags: keep the checkpoint that answers a validation file best."""

    validation_file: ValidationFile = None
    eval_steps: EvalSteps = 2
    select_by: SelectBy = SELECT_BY[0]
    judge: JudgeModel = None
    judge_base_url: JudgeBaseUrl = None
    api_key: ApiKey = None
    eval_max_tokens: EvalMaxTokens = 2048

    def selection(self, data_dir: Path) -> SelectionConfig | None:
        """The selection the flags ask for; None without --validation-file (then --select-by and --judge must be
        left at their defaults)."""
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


@dataclass(frozen=True, kw_only=True)
class TrainOptions(SelectionOptions, FineTuneOptions):
    """Everything `cft train` and `sft train` share: the data, the model, where it goes, the budget, the selection."""

    data: Annotated[
        Path,
        typer.Option(help="JSONL: question, response, critique (cft: from build-data) or question, answer (sft)."),
    ]
    model: Annotated[str, typer.Option(help="Model to fine-tune: HF id, folder or built-in.")]
    output: Annotated[Path, typer.Option(help="Output folder.")]
    data_dir: DataDir = Path(".headwater")


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


def _train(label: str, make: Callable[..., dict], options: TrainOptions) -> dict:
    """Fine-tune on the rows `make` builds from each line of the data (its parameters name the JSONL fields), with a
    progress bar; save the run's summary next to the model."""
    columns = tuple(inspect.signature(make).parameters)
    try:
        examples = [make(*(line[name] for name in columns)) for line in _jsonl(options.data, columns)]
        config, chosen = options.config(), options.selection(options.data_dir)
        result = _fine_tune(label, examples, options.model, options.output, config, options.data_dir, chosen)
    except HeadwaterError as error:
        raise fail(error) from None
    summary = _summary(label, len(examples), result)
    (options.output / f"{label}_summary.json").write_text(json.dumps(summary, indent=2))
    return summary


def _print_trained(summary: dict, as_json: bool) -> None:
    if as_json:
        print(json.dumps(summary))
        return
    best = summary["best_step"] is not None
    kept = f", best {summary['select_by']} {summary['best_score']:.4f} at step {summary['best_step']}" if best else ""
    err.print(f"{summary['method']}: saved {summary['model']} (loss {summary['train_loss']:.4f}{kept})")


def _fine_tune(
    label: str,
    rows: list[dict],
    model: str,
    output: Path,
    config: FineTuneConfig,
    data_dir: Path,
    selection: SelectionConfig | None,
) -> FineTuneResult:
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
        return fine_tune(model, rows, output, config, data_dir, [ProgressBar(progress, task)], selection)


@app.command()
@option_groups
def train(options: TrainOptions, as_json: Json = False) -> None:
    """Critique fine-tuning: learn the critique given the question and the response (loss on the critique).

    With --validation-file the model kept is the checkpoint that answers the validation questions best."""
    _print_trained(_train("cft", cft_row, options), as_json)


@sft_app.command("train")
@option_groups
def sft_train(options: TrainOptions, as_json: Json = False) -> None:
    """The SFT baseline: learn the answer given the question, same settings as `cft train`."""
    _print_trained(_train("sft", sft_row, options), as_json)
