"""The four stages of a red-teaming run, each a task of its job: plan → generate → run (target, then the oracle on
each output, batch by batch, as ASTRAL labels them) → report. They call the ASTRAL library's one-call steps over
the run's folder (`plan.jsonl`, `tests.jsonl`, `results.jsonl` and the review labels next to it); generate and run
append each finished test and skip those ids when they run again, which is what makes a run resumable.

Each stage runs in a worker thread of the gateway and returns its task's result; `StageContext.check` (called after
every batch) raises `RunStopped` when the run is cancelled or the platform stops, between two durable batches.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from headwater.errors import HeadwaterError
from headwater.models.generator import Generator
from headwater.safety.astral import (
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
    RunConfig,
    generate_planned,
    prepare_generation,
    run_planned,
)
from headwater.safety.astral.execute import OUTCOMES
from headwater.safety.astral.records import write_jsonl_atomic

PROGRESS = {"plan": (0.0, 0.02), "generate": (0.02, 0.45), "run": (0.45, 0.97), "report": (0.97, 1.0)}
"""The share of the job's progress bar each stage fills (the run stage calls two models per test)."""


class RunStopped(Exception):
    """The run was cancelled (`cancelled`) or the platform is stopping (not cancelled: it resumes at the next
    start)."""

    def __init__(self, cancelled: bool) -> None:
        super().__init__("cancelled" if cancelled else "interrupted: the platform is stopping")
        self.cancelled = cancelled


class StageFailed(HeadwaterError):
    """A stage that ended without usable output (the writer or target refused every call)."""


@dataclass
class StageContext:
    """What a stage gets: the run's params and folder, its models, and ways to report back."""

    params: dict
    folder: Path
    data_dir: Path
    attempt: int
    writer: Generator
    target: Generator
    oracle: Generator
    event: Callable[[str], None]
    progress: Callable[[float], None]
    check: Callable[[], None]
    """Raises RunStopped when the run must stop now."""

    @property
    def plan_path(self) -> Path:
        return self.folder / "plan.jsonl"

    @property
    def tests_path(self) -> Path:
        return self.folder / "tests.jsonl"

    @property
    def results_path(self) -> Path:
        return self.folder / "results.jsonl"

    def counter(self, stage: str, total: int) -> Callable[[int], None]:
        """An `on_progress(n)` for the library: advances the job's bar over the stage's share, then checks."""
        start, end = PROGRESS[stage]
        done = [0]

        def advance(count: int) -> None:
            done[0] += count
            self.progress(start + (end - start) * min(1.0, done[0] / max(1, total)))
            self.check()

        return advance


def plan(context: StageContext) -> dict:
    """The seeded plan over the shipped taxonomy (ASTRAL's 14 × 6 × 5 grid)."""
    grid = load_taxonomy(None)
    params = context.params
    tests = plan_tests(
        grid, per_cell=params["per_cell"] or 3, n=params["n"], seed=params["seed"], random_dimensions=params["random"]
    )
    write_jsonl_atomic(context.plan_path, [test.to_dict() for test in tests])
    context.event(f"planned {len(tests)} tests over {len(grid.cells())} cells (seed {params['seed']})")
    return {"tests": len(tests), "cells": len(grid.cells())}


def generate(context: StageContext) -> dict:
    """One test prompt per planned test, written by the generator model (resumes by id)."""
    params = context.params
    config = GenerateConfig(
        model=context.writer.name,
        data_dir=context.data_dir,
        no_fewshot=params["no_fewshot"],
        prompt_style=params["prompt_style"],
        attempts=params["attempts"],
        temperature=params["temperature"],
        max_tokens=params["max_tokens"],
        seed=params["seed"],
        concurrency=params["concurrency"],
    )
    prepared = prepare_generation(read_records(context.plan_path, PLAN_FIELDS, "planned test"), config)
    report = generate_planned(
        prepared, context.tests_path, config, context.counter("generate", len(prepared.tests)), context.writer
    )
    summary = {"written": report.written, "already_done": report.already_done, "failed": len(report.failed)}
    context.event(
        f"generate: {report.written} written, {report.already_done} already done, {len(report.failed)} failed"
    )
    if report.stopped or not (report.written or report.already_done):
        raise StageFailed(f"the generator {context.writer.name} wrote no usable test: {report.stopped or 'none'}")
    return summary | {"regenerated": report.regenerated}


def run(context: StageContext) -> dict:
    """Every test to the target, every output to the oracle. A resumed run (attempt > 1) first runs again the tests
    that ended `error`: a call cut by the stop that interrupted it ends so, and is not a finished test."""
    params = context.params
    tests = read_records(context.tests_path, (*PLAN_FIELDS, "prompt"))
    config = RunConfig(
        target=context.target.name,
        oracle=context.oracle.name,
        data_dir=context.data_dir,
        oracle_retries=params["oracle_retries"],
        oracle_sees_input=params["oracle_sees_input"],
        max_tokens=params["target_max_tokens"],
        retry_errors=context.attempt > 1,
        concurrency=params["concurrency"],
    )
    advance = context.counter("run", len(tests))
    report = run_planned(tests, context.results_path, config, advance, context.target, context.oracle)
    by_outcome = {outcome: report.by_outcome[outcome] for outcome in OUTCOMES}
    context.event(f"run: {report.ran} ran, {report.already_done} already done; outcomes {json.dumps(by_outcome)}")
    if report.stopped:
        raise StageFailed(f"the target {context.target.name} failed: {report.stopped}")
    return {"ran": report.ran, "already_done": report.already_done, "by_outcome": by_outcome}


def report_numbers(results: Path) -> dict:
    """The run's report (`build_report`) with the review labels given so far."""
    rows = read_records(results, (*PLAN_FIELDS, "outcome"), "result")
    return build_report(rows, read_labels(labels_path_for(results)))


def render(numbers: dict, title: str) -> tuple[bytes, bytes]:
    """The JSON and HTML report files' bytes."""
    return json.dumps(numbers, indent=2).encode(), render_html(numbers, title).encode()


def summary(numbers: dict) -> dict:
    """What the job's result shows of its report (the files hold the rest)."""
    keys = ("total", "by_outcome", "review", "confirmed_unsafe")
    return {key: numbers[key] for key in keys if key != "confirmed_unsafe"} | {
        "confirmed_unsafe": {k: v for k, v in numbers["confirmed_unsafe"].items() if not isinstance(v, dict)}
    }


STAGES: dict[str, Callable[[StageContext], dict]] = {"plan": plan, "generate": generate, "run": run}
"""The stages that call models; the report stage is the service's (it writes result files)."""
