"""Building CFT data: sample candidate responses, ask a teacher Generator for critiques, keep what parses.

The builder is resumable: every finished item is appended (and flushed) to the output as soon as it is done, and
a re-run with the same output skips the items already there, so an interrupted run never asks the teacher twice.
Input lines that are malformed go, with the reason, to `<output>.rejects.jsonl`, never to the output.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

from headwater.errors import HeadwaterError, InvalidRequestError
from headwater.jsonl import jsonl_lines
from headwater.models.generator import GenerationParams, Generator
from headwater.train.cft import final_answer, parse_verdict, same_answer, teacher_prompt

logger = logging.getLogger(__name__)
TEACHER_PARAMS = GenerationParams(max_tokens=3200, temperature=0.3, top_p=0.95)
"""The official critique generation's sampling (gpt-4o-2024-11-20, T 0.3, top_p 0.95, max_tokens 3200): a shorter
budget cuts long critiques before their Conclusion, and those are dropped as unparseable."""


@dataclass
class BuildReport:
    """What a build did; `rejected` lists (line, reason) of malformed input lines."""

    written: int = 0
    already_done: int = 0
    duplicates: int = 0
    unparseable: int = 0
    dropped_by_reference: int = 0
    teacher_failures: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)


def item_key(question: str, response: str) -> str:
    return hashlib.sha256(f"{question}\0{response}".encode()).hexdigest()


def _check_line(record: object) -> str | None:
    """The reason a line is unusable, or None."""
    if not isinstance(record, dict):
        return "not a JSON object"
    for name in ("question", "response"):
        if not isinstance(record.get(name), str) or not record[name].strip():
            return f"field {name!r} must be a non-empty string"
    if (
        "reference" in record
        and record["reference"] is not None
        and not isinstance(record["reference"], str | int | float)
    ):
        return "field 'reference' must be a string or a number"
    if "response_correct" in record and not isinstance(record["response_correct"], bool | None):
        return "field 'response_correct' must be true or false"
    return None


def read_items(path: Path, report: BuildReport) -> list[dict]:
    """Valid input items; malformed lines are recorded in `report.rejected`."""
    try:
        lines = jsonl_lines(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as error:
        raise InvalidRequestError(f"cannot read {path}: {error}", param="input") from error
    items = []
    for number, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        try:
            record = json.loads(text)
        except json.JSONDecodeError as error:
            report.rejected.append((number, f"not JSON: {error.msg}"))
            continue
        reason = _check_line(record)
        if reason:
            report.rejected.append((number, reason))
        else:
            items.append(record)
    return items


def finished_keys(output: Path) -> set[str]:
    """Keys already in the output. Unreadable lines are skipped (never deleted with what follows); a torn last line
    (a crash mid-write) is cut off, and the file is left ending in a newline so appends stay valid JSONL."""
    if not output.exists():
        return set()
    data = output.read_bytes()
    lines = data.split(b"\n")
    keys = set()
    for index, raw in enumerate(lines):
        try:
            record = json.loads(raw)
            keys.add(item_key(record["question"], record["response"]))
        except (json.JSONDecodeError, KeyError, TypeError, UnicodeDecodeError):
            if index == len(lines) - 1 and raw.strip():  # the torn tail of an interrupted write
                with output.open("r+b") as handle:
                    handle.truncate(len(data) - len(raw))
                return keys
    if data and not data.endswith(b"\n"):
        with output.open("ab") as handle:
            handle.write(b"\n")
    return keys


def _batches(items: list[dict], size: int) -> Iterator[list[dict]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _critique(
    batch: list[dict], teacher: Generator, params: GenerationParams, attempts: int, report: BuildReport
) -> list[tuple[dict, str]]:
    """(item, critique) for every item whose critique parsed within `attempts` tries."""
    done: list[tuple[dict, str]] = []
    pending = batch
    for _attempt in range(attempts):
        if not pending:
            break
        try:
            generations = teacher.generate([teacher_prompt(i["question"], i["response"]) for i in pending], params)
        except HeadwaterError as error:
            logger.warning("teacher failed on %d item(s): %s", len(pending), error)
            report.teacher_failures += len(pending)
            return done
        retry = []
        for item, generation in zip(pending, generations, strict=True):
            if parse_verdict(generation.text) is None:
                retry.append(item)
            else:
                done.append((item, generation.text))
        pending = retry
    report.unparseable += len(pending)
    return done


def build_critique_data(
    input_path: Path,
    output_path: Path,
    teacher: Generator,
    *,
    check_reference: bool = False,
    batch_size: int = 16,
    attempts: int = 3,
    max_tokens: int = TEACHER_PARAMS.max_tokens,
    on_progress: Callable[[int], None] | None = None,
) -> BuildReport:
    """Critique every input item with `teacher` into `output_path` (resumable); see the module docstring.
    `max_tokens` bounds each critique (default 3200, the official value)."""
    if max_tokens < 1:
        raise InvalidRequestError(f"max_tokens must be at least 1, got {max_tokens}", param="max_tokens")
    params = replace(TEACHER_PARAMS, max_tokens=max_tokens)
    report = BuildReport()
    items = read_items(input_path, report)
    rejects = output_path.with_name(output_path.name + ".rejects.jsonl")
    if report.rejected:
        rejects.write_text("".join(json.dumps({"line": n, "reason": r}) + "\n" for n, r in report.rejected))
    done = finished_keys(output_path)
    todo, seen = [], set()
    for item in items:
        key = item_key(item["question"], item["response"])
        if key in done:
            report.already_done += 1
        elif key in seen:
            report.duplicates += 1
        else:
            seen.add(key)
            todo.append(item)
    output_path.parent.mkdir(parents=True, exist_ok=True)
    with output_path.open("a", encoding="utf-8") as out:
        for batch in _batches(todo, batch_size):
            for item, critique in _critique(batch, teacher, params, attempts, report):
                verdict = parse_verdict(critique)
                expected = item.get("response_correct")
                if check_reference and expected is not None and (verdict == "right") != expected:
                    report.dropped_by_reference += 1
                    continue
                out.write(
                    json.dumps({**item, "critique": critique, "verdict": verdict, "teacher": teacher.name}) + "\n"
                )
                report.written += 1
            out.flush()
            os.fsync(out.fileno())
            if on_progress is not None:
                on_progress(len(batch))
    return report


def sample_responses(
    questions: list[dict],
    generator: Generator,
    samples: int = 4,
    keep: int = 2,
    correct_share: float = 0.5,
    seed: int = 0,
    params: GenerationParams | None = None,
) -> list[dict]:
    """Draw `samples` responses per question and keep `keep`, a `correct_share` of them correct where the
    question has a `reference` answer (as far as the draws allow); each kept line says whether it is correct."""
    if not 0.0 <= correct_share <= 1.0:
        raise InvalidRequestError(f"correct_share must be in [0, 1], got {correct_share}", param="correct_share")
    rng = random.Random(seed)
    # no seed: every copy of a prompt must be drawn independently (one shared seed would repeat one sample)
    params = params or GenerationParams(max_tokens=512, temperature=0.8)
    prompts = [[{"role": "user", "content": q["question"]}] for q in questions for _ in range(samples)]
    texts = [g.text for g in generator.generate(prompts, params)]
    rows = []
    for index, question in enumerate(questions):
        drawn = texts[index * samples : (index + 1) * samples]
        reference = question.get("reference")
        if reference is None:
            rows += [
                {"question": question["question"], "response": t} for t in rng.sample(drawn, min(keep, len(drawn)))
            ]
            continue
        graded = [(t, same_answer(final_answer(t), str(reference))) for t in drawn]
        right = [g for g in graded if g[1]]
        wrong = [g for g in graded if not g[1]]
        want_right = min(len(right), round(keep * correct_share))
        chosen = rng.sample(right, want_right) + rng.sample(wrong, min(len(wrong), keep - want_right))
        rows += [
            {
                "question": question["question"],
                "response": text,
                "reference": str(reference),
                "response_correct": correct,
            }
            for text, correct in chosen
        ]
    return rows
