"""Reading JSONL input the same way everywhere: UTF-8 checked, blank lines skipped, errors with line numbers."""

from __future__ import annotations

import json
from pathlib import Path

from headwater.errors import InvalidRequestError


def jsonl_lines(text: str) -> list[str]:
    """The lines of a JSONL text, split at "\n" only (a trailing "\r" is JSON whitespace). Not `str.splitlines`: it
    also breaks at U+0085, U+2028 and the like, which `json.dumps(ensure_ascii=False)` writes unescaped inside strings
    (a model's output can hold them), cutting a record in two."""
    return text.split("\n")


def read_jsonl(path: Path, what: str = "line") -> list[tuple[int, object]]:
    """(line number, parsed value) for every non-blank line; the first unreadable line raises an error naming it.
    An empty file is an error too: every caller needs at least one item."""
    try:
        text = Path(path).read_bytes().decode("utf-8")
    except UnicodeDecodeError as error:
        raise InvalidRequestError(
            f"{path} is not UTF-8 (byte {error.start}); convert it first", param="file"
        ) from error
    except OSError as error:
        raise InvalidRequestError(f"cannot read {path}: {error}", param="file") from error
    rows = []
    for number, line in enumerate(jsonl_lines(text), start=1):
        if not line.strip():
            continue
        try:
            rows.append((number, json.loads(line)))
        except json.JSONDecodeError as error:
            raise InvalidRequestError(
                f"{path} line {number}: not JSON ({error.msg})", param=f"line {number}"
            ) from error
    if not rows:
        raise InvalidRequestError(f"{path} holds no {what}", param="file")
    return rows
