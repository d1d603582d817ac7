"""Running tests against a target Generator and labelling each output with the oracle (concurrent, resumable).

ASTRAL executes single-turn with the provider's defaults (arXiv 2501.17749, section 3). Each output ends in one
of five outcomes: `safe`, `unsafe` or `unknown` from the oracle; `blocked` when the provider refused on policy
grounds; `error` for any other failure (timeout, HTTP error). Blocked and error outputs are never sent to the
oracle nor counted safe. Results are appended per finished batch, and a re-run skips the ids already written.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from headwater.errors import InvalidRequestError
from headwater.models.generator import GenerationParams, Generator
from headwater.safety.astral.calls import CallResult, call_isolated
from headwater.safety.astral.oracle import Oracle
from headwater.safety.astral.records import append_records, finished_records, write_jsonl_atomic

logger = logging.getLogger(__name__)
OUTCOMES = ("safe", "unsafe", "unknown", "blocked", "error")
"""Every outcome a result line can have."""
TARGET_PARAMS = GenerationParams(max_tokens=256, temperature=0.0)


@dataclass
class RunReport:
    """What a run did: new results by outcome, and how many were already in the output."""

    ran: int = 0
    already_done: int = 0
    by_outcome: Counter[str] = field(default_factory=Counter)
    stopped: str | None = None
    """Why the run stopped early: every test of its first batch failed (the target is down, the URL or key is
    wrong), so the rest would only fail too, each after its own retries."""


def _unjudged(test: dict, result: CallResult) -> dict | None:
    """The result line of a blocked or failed call, or None when the output goes to the oracle."""
    if result.blocked:
        output = result.generation.text if result.generation is not None else ""
        return {**test, "output": output, "outcome": "blocked", "reason": f"blocked by provider: {result.describe()}"}
    if result.generation is None:
        return {**test, "output": None, "outcome": "error", "reason": result.describe()}
    return None


def run_batch(
    batch: list[dict], target: Generator, oracle: Oracle, params: GenerationParams = TARGET_PARAMS
) -> list[dict]:
    """Result lines for one batch of tests, in order: the target's outputs, then the oracle on those that exist."""
    calls = call_isolated(target, [[{"role": "user", "content": test["prompt"]}] for test in batch], params)
    lines: list[dict | None] = [_unjudged(test, call) for test, call in zip(batch, calls, strict=True)]
    # a line left to the oracle is one whose call returned a generation (_unjudged)
    generated = [(i, generation) for i, call in enumerate(calls) if (generation := call.generation) is not None]
    judged = [i for i, _ in generated if lines[i] is None]
    outputs = [generation.text for i, generation in generated if lines[i] is None]
    verdicts = oracle.judge(outputs, [batch[i]["prompt"] for i in judged])
    for index, output, verdict in zip(judged, outputs, verdicts, strict=True):
        lines[index] = {
            **batch[index],
            "output": output,
            "outcome": verdict.verdict,
            "reason": verdict.reason,
            "oracle_raw": verdict.raw,
            "oracle_attempts": verdict.attempts,
        }
    models = {"target": target.name, "oracle": oracle.generator.name}
    return [{**line, **models} for line in lines if line is not None]


def run_tests(
    tests: list[dict],
    output: Path,
    target: Generator,
    oracle: Oracle,
    *,
    concurrency: int = 8,
    params: GenerationParams = TARGET_PARAMS,
    retry_errors: bool = False,
    on_progress: Callable[[int], None] | None = None,
) -> RunReport:
    """Run every test not yet in `output` and append its result line (`output`, `outcome`, `reason`, ...).

    `concurrency` tests go to the target at once (its backend runs them in parallel), then their outputs to the
    oracle; the batch is made durable before the next starts. `retry_errors` first removes the `error` lines
    (rewriting the file atomically, so each id keeps one line) and runs those tests again."""
    if concurrency < 1:
        raise InvalidRequestError(f"concurrency must be at least 1, got {concurrency}")
    report = RunReport()
    done = finished_records(output)
    if retry_errors and any(record.get("outcome") == "error" for record in done.values()):
        done = {key: record for key, record in done.items() if record.get("outcome") != "error"}
        write_jsonl_atomic(output, done.values())
    todo = [test for test in tests if test["id"] not in done]
    report.already_done = len(tests) - len(todo)
    output.parent.mkdir(parents=True, exist_ok=True)
    with output.open("a", encoding="utf-8") as out:
        for start in range(0, len(todo), concurrency):
            batch = todo[start : start + concurrency]
            lines = run_batch(batch, target, oracle, params)
            append_records(out, lines)
            report.ran += len(lines)
            report.by_outcome.update(line["outcome"] for line in lines)
            if on_progress is not None:
                on_progress(len(batch))
            if start == 0 and len(todo) > len(batch) and all(line["outcome"] == "error" for line in lines):
                report.stopped = f"the first {len(lines)} test(s) all failed; last: {lines[-1]['reason']}"
                logger.warning("stopping: %s", report.stopped)
                break
    logger.info("ran %d tests (%d already done): %s", report.ran, report.already_done, dict(report.by_outcome))
    return report
