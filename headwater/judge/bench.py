"""Benchmark runners over local JSONL files: pairwise (RewardBench-style), absolute (MT-Bench-style scores vs
reference scores) and classification. Each returns one report dict (what `headwater judge bench` prints).

Pairwise lines: `prompt` (or `instruction`), `chosen`, `rejected`, optional `subset`, `id`. Absolute lines: the
`score` task fields plus `score` (the reference) and optional `source` (human/model). Classification lines: the
`classify` task fields plus `label`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path

from headwater.errors import InvalidRequestError
from headwater.jsonl import read_jsonl
from headwater.judge.inputs import task_from_record
from headwater.judge.judge import Judge, Judgement
from headwater.judge.metrics import Policy, accuracy, correlation, rewardbench_scores
from headwater.judge.tasks import TASK_KINDS, PairwiseTask


def _records(path: Path) -> list[dict]:
    records = []
    for number, record in read_jsonl(path, "item"):
        if not isinstance(record, dict):
            raise InvalidRequestError(f"line {number}: expected a JSON object", param=f"line {number}")
        records.append(record)
    return records


def _field(record: dict, name: str, number: int) -> str:
    """The string field `name` of line `number`."""
    value = record.get(name)
    if not isinstance(value, str):
        raise _wrong_type(name, number)
    return value


def _score(record: dict, number: int) -> float:
    """The reference `score` of line `number`: a number, not a bool."""
    value = record.get("score")
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise _wrong_type("score", number)
    return float(value)


def _wrong_type(name: str, number: int) -> InvalidRequestError:
    return InvalidRequestError(
        f"line {number}: field {name!r} is missing or of the wrong type", param=f"line {number}.{name}"
    )


def _common(judge: Judge, results: list[Judgement], kind: str) -> dict[str, object]:
    failures = sum(1 for r in results if r.failure is not None)
    return {
        "kind": kind,
        "items": len(results),
        "parse_failure_rate": failures / len(results),
        "failures": dict(sorted(_count(r.failure for r in results if r.failure).items())),
        "retries": judge.retry_count,
        "template_version": judge.template.version,
        "decoding": {
            "max_tokens": judge.max_tokens,
            "samples": judge.samples,
            "temperature": judge.sample_temperature if judge.samples > 1 else 0.0,
        },
        "order": judge.order,
    }


def _count(items: Iterable[str]) -> dict[str, int]:
    counts: dict[str, int] = defaultdict(int)
    for item in items:
        counts[item] += 1
    return counts


def bench(kind: str, path: Path, judge: Judge, policy: Policy = "wrong") -> dict[str, object]:
    """Run `judge` on a benchmark file and report its metrics."""
    if kind not in TASK_KINDS:
        raise InvalidRequestError(f"kind must be one of {', '.join(TASK_KINDS)}, got {kind!r}", param="kind")
    records = _records(path)
    if kind == "pairwise":
        return _pairwise(records, judge, policy)
    if kind == "absolute":
        tasks = [task_from_record("absolute", r, f"line {n}") for n, r in enumerate(records, start=1)]
        scores = [_score(r, n) for n, r in enumerate(records, start=1)]
        results = judge.judge(tasks)
        # an absolute task's verdict is an int score, or None when it failed
        result = correlation([r.verdict if isinstance(r.verdict, int) else None for r in results], scores)
        sources = sorted({str(r.get("source", "unknown")) for r in records})
        return {
            **_common(judge, results, kind),
            "reference_source": sources,
            "metrics": {
                "pearson": result.pearson,
                "spearman": result.spearman,
                "kendall": result.kendall,
                "scored": result.n,
                "failures": result.failures,
            },
        }
    tasks = [task_from_record("classification", r, f"line {n}") for n, r in enumerate(records, start=1)]
    labels = [_field(r, "label", n) for n, r in enumerate(records, start=1)]
    results = judge.judge(tasks)
    outcomes = [None if r.failure else r.verdict == label for r, label in zip(results, labels, strict=True)]
    return {**_common(judge, results, kind), "policy": policy, "metrics": {"accuracy": accuracy(outcomes, policy)}}


def _pairwise(records: list[dict], judge: Judge, policy: Policy) -> dict[str, object]:
    tasks, subsets = [], []
    for number, record in enumerate(records, start=1):
        prompt = record.get("prompt", record.get("instruction"))
        if not isinstance(prompt, str):
            raise InvalidRequestError(
                f"line {number}: field 'prompt' (or 'instruction') must be a string", param=f"line {number}.prompt"
            )
        chosen, rejected = _field(record, "chosen", number), _field(record, "rejected", number)
        tasks.append(PairwiseTask(prompt, chosen, rejected, id=record.get("id")))
        subsets.append(str(record.get("subset", "all")))
    results = judge.judge(tasks)
    outcomes = [None if r.failure else r.verdict == "A" for r in results]  # chosen is A before any swap
    by_subset: dict[str, list[bool | None]] = defaultdict(list)
    for subset, outcome in zip(subsets, outcomes, strict=True):
        by_subset[subset].append(outcome)
    subset_accuracy = {s: accuracy(o, policy) for s, o in by_subset.items()}
    report = {
        **_common(judge, results, "pairwise"),
        "policy": policy,
        "metrics": {"accuracy": accuracy(outcomes, policy)},
        "subsets": subset_accuracy,
        "rewardbench": rewardbench_scores(subset_accuracy, {s: len(o) for s, o in by_subset.items()}),
    }
    if judge.order == "both":
        parsed = [r for r in results if r.failure in (None, "inconsistent")]
        report["position_consistency"] = (sum(r.failure is None for r in parsed) / len(parsed)) if parsed else None
    decided = [(r, t) for r, t in zip(results, tasks, strict=True) if r.failure is None]
    longer = [
        (r.verdict == "A") == (len(t.response_a) > len(t.response_b))
        for r, t in decided
        if len(t.response_a) != len(t.response_b)
    ]
    report["longer_response_win_rate"] = sum(longer) / len(longer) if longer else None
    slot_one = [r for r, _task in decided]
    report["slot_one_win_rate"] = (
        sum((r.verdict == "A") != r.swapped for r in slot_one) / len(slot_one)
        if slot_one and judge.order != "both"
        else None
    )
    return report
