"""`headwater judge score|compare|classify`: judge one item or a JSONL file with any model.

An unparseable verdict is reported as `{"verdict": null, "parse_error": "<reason>"}` with exit code 0; bad input
exits 2 with the line and field.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from headwater.cli.options import ApiKey, DataDir, Endpoint, Json, fail, generator_for, option_groups
from headwater.errors import HeadwaterError
from headwater.judge import Judge, Judgement
from headwater.judge.inputs import read_gold, read_tasks, task_from_record
from headwater.judge.judge import judgement_record
from headwater.judge.templates import Template, template_named

app = typer.Typer(
    help="LLM judging (Selene Mini's tasks): absolute scores, pairwise comparisons, classification.",
    no_args_is_help=True,
)
out = Console()
err = Console(stderr=True)
File = Annotated[Path | None, typer.Argument(help="JSONL, one task per line (see docs); or give the item as options.")]
Model = Annotated[str, typer.Option(help="Judge model: HF id, folder, built-in, or a served name with --base-url.")]
Retries = Annotated[int, typer.Option(help="Re-asks when the verdict does not parse.")]
Samples = Annotated[int, typer.Option(help="Self-consistency: samples per task (majority vote).")]
TemplateName = Annotated[
    str,
    typer.Option(
        help="headwater (ours, default), prometheus (score only), Atla's Selene prompt-templates folder or one of "
        "its .yaml files (use these with a Selene model), or a Jinja file."
    ),
]
DEFAULT_TEMPLATE = "headwater"
Order = Annotated[str, typer.Option(help="Pairwise order: fixed, random (seeded swap) or both (judge both orders).")]
Seed = Annotated[int, typer.Option(help="Seed of the random order.")]


def _template(name: str, model: str) -> Template:
    """The named template; a Selene model with our paraphrase gets a note (it was trained on Atla's prompts)."""
    template = template_named(name)
    if name == DEFAULT_TEMPLATE and "selene" in model.lower():
        err.print(
            "[yellow]note:[/] Selene models were trained on Atla's prompts, not the headwater template: pass "
            "--template <selene-mini>/prompt-templates (see docs/judge.md)"
        )
    return template


@dataclass(frozen=True)
class JudgeOptions(Endpoint):
    """The judge model and how it is asked: the options score, compare, classify and bench share."""

    model: Model = "smollm2-135m"
    retries: Retries = 1
    samples: Samples = 1
    template: TemplateName = DEFAULT_TEMPLATE

    def judge(self, order: str = "random", seed: int = 0) -> Judge:
        """The Judge these options name (its model loaded, or reached at --base-url)."""
        generator = self.generator(self.model)
        template = _template(self.template, self.model)
        return Judge(generator, retries=self.retries, samples=self.samples, template=template, order=order, seed=seed)  # type: ignore[arg-type]


def _run(kind: str, file: Path | None, item: dict, options: JudgeOptions, as_json: bool, **order: Any) -> None:
    """Judge the file's tasks, or the one item given as options, and print the verdicts."""
    try:
        tasks = read_tasks(kind, file) if file is not None else [task_from_record(kind, item)]
        judge = options.judge(**order)
        results = judge.judge(tasks)
    except HeadwaterError as error:
        raise fail(error) from None
    _print(tasks, results, as_json, judge)


def _print(tasks: list, results: list[Judgement], as_json: bool, judge: Judge) -> None:
    if as_json:
        for task, result in zip(tasks, results, strict=True):
            print(json.dumps(judgement_record(task, result)))
        return
    table = Table(
        "id", "verdict", "reasoning", title=f"judgements ({judge.template.version}, {judge.retry_count} retries)"
    )
    for index, (task, result) in enumerate(zip(tasks, results, strict=True)):
        verdict = str(result.verdict) if result.failure is None else f"[red]unparsed: {result.failure}[/]"
        table.add_row(task.id or str(index), verdict, result.reasoning[:200])
    out.print(table)


@app.command()
@option_groups
def score(
    file: File = None,
    instruction: Annotated[str | None, typer.Option(help="The instruction (single item).")] = None,
    response: Annotated[str | None, typer.Option(help="The response to score.")] = None,
    rubric: Annotated[str | None, typer.Option(help="The rubric's objective.")] = None,
    reference: Annotated[str | None, typer.Option(help="A reference answer.")] = None,
    options: JudgeOptions = JudgeOptions(),
    as_json: Json = False,
) -> None:
    """Score responses 1-5 against a rubric (objective string, or {criteria, scores} in JSONL)."""
    item = {"instruction": instruction, "response": response, "rubric": rubric, "reference": reference}
    _run("absolute", file, item, options, as_json)


@app.command()
@option_groups
def compare(
    file: File = None,
    instruction: Annotated[str | None, typer.Option(help="The instruction (single item).")] = None,
    response_a: Annotated[str | None, typer.Option(help="Response A.")] = None,
    response_b: Annotated[str | None, typer.Option(help="Response B.")] = None,
    criteria: Annotated[str | None, typer.Option(help="What makes a response better.")] = None,
    order: Order = "random",
    seed: Seed = 0,
    options: JudgeOptions = JudgeOptions(),
    as_json: Json = False,
) -> None:
    """Pick the better of two responses (A or B; no tie)."""
    item = {"instruction": instruction, "response_a": response_a, "response_b": response_b, "criteria": criteria}
    _run("pairwise", file, item, options, as_json, order=order, seed=seed)


@app.command()
@option_groups
def classify(
    file: File = None,
    instruction: Annotated[str | None, typer.Option(help="The instruction (single item).")] = None,
    response: Annotated[str | None, typer.Option(help="The response to classify.")] = None,
    criteria: Annotated[str | None, typer.Option(help="The question the label answers.")] = None,
    yes_description: Annotated[str | None, typer.Option(help="What a Yes means (Atla's templates need both).")] = None,
    no_description: Annotated[str | None, typer.Option(help="What a No means.")] = None,
    options: JudgeOptions = JudgeOptions(),
    as_json: Json = False,
) -> None:
    """Label a response against a criterion (Yes/No by default; `labels` per JSONL line)."""
    item: dict[str, object] = {"instruction": instruction, "response": response, "criteria": criteria}
    if yes_description is not None or no_description is not None:
        item["labels"] = {"Yes": yes_description or "", "No": no_description or ""}
    _run("classification", file, item, options, as_json)


@app.command()
@option_groups
def bench(
    file: Annotated[Path, typer.Argument(help="Benchmark JSONL (see docs/judge.md for each kind's fields).")],
    kind: Annotated[str, typer.Option(help="pairwise, absolute or classification.")] = "pairwise",
    order: Order = "random",
    seed: Seed = 0,
    policy: Annotated[str, typer.Option(help="Parse failures count as wrong, half, or are dropped.")] = "wrong",
    output: Annotated[Path | None, typer.Option(help="Also write the report as JSON here.")] = None,
    options: JudgeOptions = JudgeOptions(),
    as_json: Json = False,
) -> None:
    """Run a benchmark file and report metrics, parse-failure rate, retries and position bias."""
    from headwater.judge.bench import bench as run_bench

    try:
        report = run_bench(kind, file, options.judge(order, seed), policy)  # type: ignore[arg-type]
    except HeadwaterError as error:
        raise fail(error) from None
    report = {"model": options.model, **report}
    if output is not None:
        output.write_text(json.dumps(report, indent=2))
    if as_json:
        print(json.dumps(report))
        return
    table = Table("metric", "value", title=f"{kind} benchmark, {options.model}")
    for key, value in report.items():
        if isinstance(value, dict):
            for sub, number in value.items():
                table.add_row(f"{key}.{sub}", f"{number:.4f}" if isinstance(number, float) else str(number))
        else:
            table.add_row(key, f"{value:.4f}" if isinstance(value, float) else str(value))
    out.print(table)


@app.command()
def train(
    file: Annotated[Path, typer.Argument(help="JSONL: task fields plus the gold verdict (score, winner or label).")],
    teacher: Annotated[str, typer.Option(help="Teacher that samples critiques: HF id, folder, built-in or served.")],
    model: Annotated[str, typer.Option(help="Judge model to train.")],
    output: Annotated[Path, typer.Option(help="Output folder (pairs.jsonl and the trained model).")],
    kind: Annotated[
        str, typer.Option(help="absolute, pairwise or classification (the tasks of score, compare and classify).")
    ] = "classification",
    teacher_base_url: Annotated[str | None, typer.Option(help="OpenAI-compatible base URL of the teacher.")] = None,
    api_key: ApiKey = None,
    samples: Annotated[int, typer.Option(help="Critiques sampled per item (SFR-Judge: 20).")] = 8,
    alpha: Annotated[float, typer.Option(help="Weight of the NLL (SFT) term beside DPO.")] = 1.0,
    beta: Annotated[float, typer.Option(help="DPO beta.")] = 0.1,
    lr: Annotated[float, typer.Option(help="Learning rate.")] = 5e-6,
    max_steps: Annotated[int, typer.Option(help="Optimiser steps (0: one epoch).")] = 0,
    lora: Annotated[bool, typer.Option(help="Train LoRA adapters.")] = False,
    data_dir: DataDir = Path(".headwater"),
    as_json: Json = False,
) -> None:
    """Train a judge with DPO + SFT on chosen/rejected critiques sampled from a teacher."""
    from headwater.judge.training import JudgeTrainConfig, LabelledItem, critique_pairs, train_judge

    try:
        golds = read_gold(kind, file)
        items = [LabelledItem(task, gold) for task, gold in zip(read_tasks(kind, file), golds, strict=True)]
        rows = critique_pairs(items, generator_for(teacher, teacher_base_url, api_key, data_dir), samples=samples)
        output.mkdir(parents=True, exist_ok=True)
        (output / "pairs.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
        config = JudgeTrainConfig(beta=beta, alpha=alpha, learning_rate=lr, max_steps=max_steps, lora=lora)
        loss, final, _losses = train_judge(model, rows, output, config, data_dir)
    except HeadwaterError as error:
        raise fail(error) from None
    summary = {"items": len(items), "pairs": len(rows), "train_loss": loss, "model": str(final)}
    if as_json:
        print(json.dumps(summary))
    else:
        err.print(f"{len(rows)} pairs from {len(items)} items; saved {final} (loss {loss:.4f})")
