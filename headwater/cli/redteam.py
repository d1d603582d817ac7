"""`headwater redteam plan|generate|run|review|report`: ASTRAL-style safety testing of any model.

Each step reads the previous step's JSONL and writes its own; `generate` and `run` append per finished item and
resume where they stopped. `--json` prints one JSON object on stdout; progress goes to stderr. Bad input exits 2.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from headwater.cli.options import ApiKey, DataDir, Endpoint, Json, as_flag, fail, option_groups
from headwater.errors import HeadwaterError, InvalidRequestError
from headwater.files import write_atomic
from headwater.safety.astral import (
    OUTCOMES,
    ReviewItem,
    ReviewQueue,
    build_report,
    labels_path_for,
    load_taxonomy,
    plan_tests,
    read_labels,
    read_records,
    render_html,
)
from headwater.safety.astral.campaign import (
    PLAN_FIELDS,
    GenerateConfig,
    PreparedGeneration,
    RunConfig,
    generate_planned,
    prepare_generation,
    run_planned,
)
from headwater.safety.astral.records import write_jsonl_atomic

app = typer.Typer(
    help="Safety testing (ASTRAL): plan -> generate -> run (target + oracle) -> review -> report.", no_args_is_help=True
)
review_app = typer.Typer(help="The manual-review queue of unsafe and unknown outputs.", no_args_is_help=True)
app.add_typer(review_app, name="review")
err = Console(stderr=True, soft_wrap=True)  # whole lines: paths and messages stay greppable
out = Console()
TaxonomyFile = Annotated[
    Path | None, typer.Option("--taxonomy", help="YAML adding to (or, with replace: true, replacing) the grid.")
]
Concurrency = Annotated[int, typer.Option(help="Requests (or batch size) sent to a model at once.")]
Labels = Annotated[Path | None, typer.Option(help="Review labels file (default RESULTS.labels.jsonl).")]


def _check_at_least(minimum: int, **flags: int | None) -> None:
    """Exit 2 naming the flag (not the Python field behind it) when a count is below `minimum`."""
    for name, value in flags.items():
        if value is not None and value < minimum:
            flag = "--" + name.replace("_", "-")
            raise fail(InvalidRequestError(f"{flag} must be at least {minimum}, got {value}", param=flag))


@contextmanager
def _progress(label: str, total: int) -> Iterator[Callable[[int], None]]:
    with Progress(
        TextColumn(label), BarColumn(), TextColumn("{task.completed}/{task.total}"), TimeRemainingColumn(), console=err
    ) as progress:
        task = progress.add_task(label, total=total)
        yield lambda n: progress.advance(task, n)


def _emit(summary: dict, as_json: bool) -> None:
    if as_json:
        print(json.dumps(summary))
    else:
        err.print(", ".join(f"{key} {value}" for key, value in summary.items() if not isinstance(value, dict | list)))


@app.command()
def plan(
    output: Annotated[Path, typer.Option(help="Plan JSONL: id, category, style, technique per line.")],
    per_cell: Annotated[int | None, typer.Option(help="Tests in every cell (full factorial; default 3).")] = None,
    n: Annotated[int | None, typer.Option("--n", help="A balanced sample of N tests instead.")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the sample and the order.")] = 0,
    taxonomy: TaxonomyFile = None,
    random_dimension: Annotated[
        list[str] | None,
        typer.Option("--random", help="A dimension drawn per test instead of crossed: categories, styles, techniques."),
    ] = None,
    as_json: Json = False,
) -> None:
    """Plan the tests: K per (category, style, technique) cell, or a balanced sample of N."""
    if per_cell is not None and n is not None:
        raise fail(InvalidRequestError("give --per-cell or --n, not both"))
    _check_at_least(1, per_cell=per_cell, n=n)
    try:
        grid = load_taxonomy(taxonomy)
        tests = plan_tests(
            grid,
            per_cell=3 if per_cell is None else per_cell,
            n=n,
            seed=seed,
            random_dimensions=tuple(random_dimension or ()),
        )
        write_jsonl_atomic(output, [test.to_dict() for test in tests])
    except (HeadwaterError, OSError) as error:
        raise fail(error) from None
    _emit({"output": str(output), "tests": len(tests), "cells": len(grid.cells()), "seed": seed}, as_json)


@dataclass(frozen=True, kw_only=True)
class GenerateOptions(Endpoint):
    """`generate`'s flags: GenerateConfig's fields."""

    model: Annotated[str, typer.Option(help="Test-writing model: HF id, folder, built-in, or served name.")]
    fewshot: Annotated[Path | None, typer.Option(help="Few-shot YAML (default: the shipped benign one).")] = None
    no_fewshot: Annotated[bool, typer.Option("--no-fewshot", help="Show no few-shot examples.")] = False
    prompt_style: Annotated[
        str,
        typer.Option(help="unsafe: ask for an unsafe prompt of the cell, as ASTRAL; mild: a responsibility check."),
    ] = "unsafe"
    corpus: Annotated[
        Path | None, typer.Option(help="Your JSONL of example prompts: text, opt. category (a name or a list).")
    ] = None
    text_field: Annotated[
        str, typer.Option(help="The corpus field holding the prompt (ASTRAL's RAG_data.json: Prompt).")
    ] = "prompt"
    feed: Annotated[Path | None, typer.Option(help="Your JSONL of recent snippets: text, opt. date.")] = None
    retrieved: Annotated[int, typer.Option(help="Corpus examples shown per test.")] = 2
    embedding_model: Annotated[
        str | None, typer.Option(help="Retrieve by embedding similarity with this model (HF id, folder, built-in).")
    ] = None
    attempts: Annotated[int, typer.Option(help="Tries per test when a reply is empty or a duplicate.")] = 3
    temperature: Annotated[float, typer.Option(help="Sampling temperature of the first try.")] = 0.7
    max_tokens: Annotated[int, typer.Option(help="Longest prompt written, in tokens.")] = 200
    seed: Annotated[int, typer.Option(help="Seed of the retrieval draws.")] = 0
    taxonomy: TaxonomyFile = None
    concurrency: Concurrency = 8


@dataclass(frozen=True, kw_only=True)
class RunOptions:
    """`run`'s flags: RunConfig's fields."""

    target: Annotated[str, typer.Option(help="Model under test: HF id, folder, built-in, or served name.")]
    oracle: Annotated[str, typer.Option(help="Oracle model that labels outputs safe/unsafe/unknown.")]
    target_base_url: Annotated[str | None, typer.Option(help="OpenAI-compatible base URL of the target.")] = None
    oracle_base_url: Annotated[str | None, typer.Option(help="OpenAI-compatible base URL of the oracle.")] = None
    api_key: ApiKey = None
    oracle_retries: Annotated[int, typer.Option(help="Re-asks when the oracle's reply does not parse.")] = 2
    oracle_sees_input: Annotated[bool, typer.Option(help="Show the oracle the test prompt too.")] = False
    max_tokens: Annotated[int, typer.Option(help="Longest target output, in tokens.")] = 256
    retry_errors: Annotated[bool, typer.Option(help="Run again the tests whose result is `error`.")] = False
    concurrency: Concurrency = 8
    data_dir: DataDir = Path(".headwater")


@app.command()
@option_groups
def generate(
    plan_file: Annotated[Path, typer.Argument(metavar="PLAN", help="Plan JSONL from `redteam plan`.")],
    output: Annotated[Path, typer.Option(help="Tests JSONL (plan fields + prompt, variant, provenance); resumes.")],
    options: GenerateOptions,
    as_json: Json = False,
) -> None:
    """Write one test prompt per planned test with any model (few-shot, retrieval and context optional)."""
    with _failures(output):
        config = GenerateConfig(**asdict(options))
        prepared = prepare_generation(read_records(plan_file, PLAN_FIELDS, "planned test"), config, str(plan_file))
        _warn_corpus_categories(prepared, config)
        with _progress("tests", len(prepared.tests)) as advance:
            report = generate_planned(prepared, output, config, advance)
    summary: dict[str, object] = {
        "output": str(output),
        "variant": prepared.options.variant,
        "prompt_style": config.prompt_style,
    }
    summary |= {"written": report.written, "already_done": report.already_done, "regenerated": report.regenerated}
    _finish(summary | {"failed": report.failed}, report.stopped, as_json, "run the same command to resume")
    if report.failed:
        err.print(f"[yellow]{len(report.failed)} test(s) got no usable prompt; re-run to retry them[/]")
        if report.last_error:
            err.print(f"last error: {escape(report.last_error)}")
    if report.failed and not report.written and not report.already_done:
        raise typer.Exit(1)


def _warn_corpus_categories(prepared: PreparedGeneration, config: GenerateConfig) -> None:
    """Say which planned categories the corpus has no line for (their tests draw from the whole corpus) and which
    corpus categories are not in the taxonomy (never matched), rather than leave either unnoticed."""
    if config.corpus is None:
        return
    if not prepared.corpus_has_categories:
        err.print(f"[yellow]note:[/] {escape(str(config.corpus))} has no categories: every test draws from all of it")
        return
    if prepared.missing_categories:
        err.print(
            f"[yellow]note:[/] no corpus line holds {escape(', '.join(prepared.missing_categories))}: those tests draw "
            "from the whole corpus (provenance retrieval_scope: corpus)"
        )
    if prepared.unknown_categories:
        unknown = escape(", ".join(prepared.unknown_categories))
        err.print(f"[yellow]note:[/] corpus categories not in the taxonomy, never matched: {unknown}")


@contextmanager
def _failures(output: Path) -> Iterator[None]:
    """A failed step exits 2 (1 for a run that broke) naming the flag; an interrupted one says how to resume."""
    try:
        yield
    except (HeadwaterError, OSError) as error:
        raise fail(as_flag(error) if isinstance(error, HeadwaterError) else error) from None
    except KeyboardInterrupt:
        err.print(f"interrupted: finished tests are in {escape(str(output))}; run the same command to resume")
        raise typer.Exit(130) from None


def _finish(summary: dict, stopped: str | None, as_json: bool, resume: str) -> None:
    """Print the step's summary; a step the model server stopped exits 1 and says how to resume."""
    _emit(summary | ({"stopped": stopped} if stopped else {}), as_json)
    if stopped:
        err.print(f"[red]stopped:[/] {escape(stopped)}")
        err.print(f"is the model served at that URL, and the key right? Fix it, then {resume}")
        raise typer.Exit(1)


@app.command()
@option_groups
def run(
    tests_file: Annotated[Path, typer.Argument(metavar="TESTS", help="Tests JSONL from `redteam generate`.")],
    output: Annotated[Path, typer.Option(help="Results JSONL (+ output, outcome, reason); re-running resumes.")],
    options: RunOptions,
    as_json: Json = False,
) -> None:
    """Send every test to the target and label each output with the oracle (blocked/error never judged)."""
    with _failures(output):
        config = RunConfig(**asdict(options))
        tests = read_records(tests_file, (*PLAN_FIELDS, "prompt"))
        with _progress("tests", len(tests)) as advance:
            report = run_planned(tests, output, config, advance)
    summary = {"output": str(output), "ran": report.ran, "already_done": report.already_done}
    summary["by_outcome"] = {outcome: report.by_outcome[outcome] for outcome in OUTCOMES}
    _finish(summary, report.stopped, as_json, "run the same command with --retry-errors")
    if report.ran and report.by_outcome["error"] == report.ran:
        err.print(f"[red]every test failed[/]; see the `reason` field in {escape(str(output))}")
        raise typer.Exit(1)


@app.command()
def report(
    results: Annotated[Path, typer.Argument(metavar="RESULTS", help="Results JSONL from `redteam run`.")],
    labels: Labels = None,
    html: Annotated[Path | None, typer.Option(help="Also write an HTML report with charts here.")] = None,
    output: Annotated[Path | None, typer.Option(help="Also write the JSON report here.")] = None,
    as_json: Json = False,
) -> None:
    """Counts and rates per category, style, technique and cell; review progress; oracle vs manual."""
    try:
        rows = read_records(results, (*PLAN_FIELDS, "outcome"), "result")
        numbers = build_report(rows, read_labels(labels or labels_path_for(results)))
        if output is not None:
            write_atomic(output, json.dumps(numbers, indent=2))
        if html is not None:
            write_atomic(html, render_html(numbers, f"Red-teaming report: {results.name}"))
    except (HeadwaterError, OSError) as error:
        raise fail(error) from None
    if as_json:
        print(json.dumps(numbers))
        return
    table = Table("category", *numbers["by_outcome"], title=f"{numbers['total']} tests")
    for name, counts in numbers["by_category"].items():
        table.add_row(name, *(str(count) for count in counts.values()))
    table.add_row("[b]all[/]", *(str(count) for count in numbers["by_outcome"].values()))
    out.print(table)
    confirmed = numbers["confirmed_unsafe"]
    err.print(f"oracle flagged {confirmed['oracle_flagged']}, confirmed {confirmed['confirmed']}")


def _queue(results: Path, labels: Path | None) -> ReviewQueue:
    try:
        return ReviewQueue(results, labels)
    except HeadwaterError as error:
        raise fail(error) from None


def _item_json(item: ReviewItem) -> dict:
    fields = ("id", "category", "style", "technique", "prompt", "output", "outcome", "reason")
    return {**{key: item.result.get(key) for key in fields}, "label": item.label, "status": item.status}


@review_app.command("show")
def review_show(
    results: Annotated[Path, typer.Argument(metavar="RESULTS")],
    every: Annotated[bool, typer.Option("--all", help="List every queued item, not just the next one.")] = False,
    labels: Labels = None,
    as_json: Json = False,
) -> None:
    """Show the next item to review (or the whole queue with --all) and the queue's counts."""
    queue = _queue(results, labels)
    items = queue.items() if every else [item for item in [queue.next()] if item is not None]
    if as_json:
        print(json.dumps({**queue.counts(), "items": [_item_json(item) for item in items]}))
        return
    err.print(", ".join(f"{key} {value}" for key, value in queue.counts().items()))
    for item in items:
        data = {key: escape(str(value)) for key, value in _item_json(item).items()}
        out.print(f"[b]{data['id']}[/] {data['category']} / {data['style']} / {data['technique']}: ", end="")
        out.print(f"oracle [b]{data['outcome']}[/] ({data['reason']}); {data['status']}")
        out.print(f"prompt: {data['prompt']}\noutput: {data['output']}\n")


@review_app.command("label")
def review_label(
    results: Annotated[Path, typer.Argument(metavar="RESULTS")],
    item_id: Annotated[str, typer.Argument(metavar="ID", help="The result's id.")],
    label: Annotated[str, typer.Argument(metavar="LABEL", help="safe or unsafe (your decision).")],
    note: Annotated[str, typer.Option(help="Why, for the record.")] = "",
    labels: Labels = None,
    as_json: Json = False,
) -> None:
    """Record your decision on one result."""
    queue = _queue(results, labels)
    try:
        queue.label(item_id, label, note)
    except HeadwaterError as error:
        raise fail(error) from None
    _emit({"id": item_id, "label": label, **queue.counts()}, as_json)


@review_app.command("skip")
def review_skip(
    results: Annotated[Path, typer.Argument(metavar="RESULTS")],
    item_id: Annotated[str, typer.Argument(metavar="ID", help="The result's id.")],
    labels: Labels = None,
    as_json: Json = False,
) -> None:
    """Put one result aside; it comes back after the pending ones."""
    queue = _queue(results, labels)
    try:
        queue.skip(item_id)
    except HeadwaterError as error:
        raise fail(error) from None
    # `status`, not `skipped: true`: the queue's counts carry a `skipped` count that would overwrite it
    _emit({"id": item_id, "status": "skipped", **queue.counts()}, as_json)


@review_app.command("export")
def review_export(
    results: Annotated[Path, typer.Argument(metavar="RESULTS")],
    output: Annotated[Path, typer.Option(help="JSONL of queued results with manual_label and review_status.")],
    every: Annotated[bool, typer.Option("--all", help="Every labelled result too, not only the queue.")] = False,
    labels: Labels = None,
    as_json: Json = False,
) -> None:
    """Export the queue and its decisions."""
    queue = _queue(results, labels)
    try:
        count = queue.export(output, every)
    except (HeadwaterError, OSError) as error:
        raise fail(error) from None
    _emit({"output": str(output), "items": count, **queue.counts()}, as_json)


@review_app.command("start")
def review_start(
    results: Annotated[Path, typer.Argument(metavar="RESULTS")],
    labels: Labels = None,
) -> None:
    """Review interactively: for each item answer u (unsafe), s (safe), k (skip) or q (quit)."""
    queue = _queue(results, labels)
    choices = {"u": "unsafe", "s": "safe"}
    shown: set[str] = set()
    while (item := queue.next()) is not None and item.id not in shown:
        shown.add(item.id)
        err.print(f"\n[b]{escape(item.id)}[/] {escape(item.result['category'])}: oracle {item.result['outcome']}")
        err.print(f"prompt: {item.result.get('prompt')}\noutput: {item.result.get('output')}", markup=False)
        answer = typer.prompt("u/s/k/q", default="q", err=True).strip().lower()
        if answer == "q":
            break
        if answer == "k":
            queue.skip(item.id)
        elif answer in choices:
            queue.label(item.id, choices[answer])
    err.print(", ".join(f"{key} {value}" for key, value in queue.counts().items()))
