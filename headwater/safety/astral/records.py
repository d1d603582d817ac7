"""Crash-safe JSONL for plans, tests, results and review labels.

Outputs are append-only: each finished item is written, flushed and fsynced before the next, and a re-run reads
what is there and skips those ids, so a crash loses at most the items in flight and never runs one twice. A torn
last line (a crash mid-write) is cut off. Whole files (plans, reports) are written to a temporary file and renamed.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable
from pathlib import Path
from typing import IO

from headwater.errors import InvalidRequestError
from headwater.files import write_atomic
from headwater.jsonl import read_jsonl

logger = logging.getLogger(__name__)


def read_lines(path: Path | str, what: str = "line") -> list[tuple[int, object]]:
    """(line number, value) per non-blank line; every error names the file (a "line 3: not JSON" alone does not
    say which of the plan, tests, corpus or feed is broken)."""
    try:
        return read_jsonl(Path(path), what)
    except InvalidRequestError as error:
        if str(path) in error.message:
            raise
        raise InvalidRequestError(
            f"{path} {error.message}; each line must be one JSON object", param=error.param
        ) from None


def read_records(path: Path, required: tuple[str, ...], what: str = "test") -> list[dict]:
    """Input lines as dicts; each must hold `required` as non-empty strings and a unique `id`. The first bad line
    raises an error naming the line, the field and the fix."""
    records: list[dict] = []
    seen: dict[str, int] = {}
    for number, record in read_lines(path, what):
        if not isinstance(record, dict):
            raise InvalidRequestError(f"{path} line {number}: expected a JSON object", param=f"line {number}")
        for name in required:
            value = record.get(name)
            if not isinstance(value, str) or not value.strip():
                raise InvalidRequestError(
                    f"{path} line {number}: field {name!r} must be a non-empty string", param=f"line {number}"
                )
        if record["id"] in seen:
            raise InvalidRequestError(
                f"{path} line {number}: id {record['id']!r} already used on line {seen[record['id']]}; ids must be "
                "unique",
                param=f"line {number}",
            )
        seen[record["id"]] = number
        records.append(record)
    return records


def finished_records(path: Path) -> dict[str, dict]:
    """id -> record for the lines already in an append-only output. A torn last line is cut off and the file is
    left ending in a newline, so the next append stays valid JSONL; other unreadable lines are skipped, not
    deleted."""
    if path.is_dir():
        raise InvalidRequestError(f"{path} is a folder; give a file name for the output", param="output")
    if not path.exists():
        return {}
    data = path.read_bytes()
    lines = data.split(b"\n")
    done: dict[str, dict] = {}
    for index, raw in enumerate(lines):
        if not raw.strip():
            continue
        try:
            record = json.loads(raw)
            done[str(record["id"])] = record
        except (json.JSONDecodeError, KeyError, TypeError, UnicodeDecodeError):
            if index == len(lines) - 1:
                with path.open("r+b") as handle:
                    handle.truncate(len(data) - len(raw))
                return done
            logger.warning("%s line %d is unreadable; it is kept, and its item counts as not done", path, index + 1)
    if data and not data.endswith(b"\n"):
        with path.open("ab") as handle:
            handle.write(b"\n")
    return done


def append_records(handle: IO[str], records: Iterable[dict]) -> None:
    """Append records and make them durable before returning."""
    for record in records:
        handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    handle.flush()
    os.fsync(handle.fileno())


def write_jsonl_atomic(path: Path, records: Iterable[dict]) -> None:
    write_atomic(path, "".join(json.dumps(record, ensure_ascii=False) + "\n" for record in records))
