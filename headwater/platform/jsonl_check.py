"""Line-by-line checks of an uploaded JSONL file, so a bad line is refused at upload (HTTP 400 naming the line and
the field) instead of failing a job an hour later.

`batch` files follow OpenAI's batch input format; `fine-tune` files hold chat (`messages`), prompt/response
(`prompt` + `response` or `completion`), preference (`input` + `preferred_output` + `non_preferred_output`) or
critique (`question` + `response` + `critique`, for the `cft` method) examples; `evals` lines only need to be objects.
"""

from __future__ import annotations

import json

from headwater.errors import InvalidRequestError
from headwater.jsonl import jsonl_lines

JSONL_PURPOSES = ("fine-tune", "batch", "evals")
BATCH_URLS = ("/v1/chat/completions", "/v1/completions")


def _bad(line: int, message: str, field: str | None = None) -> InvalidRequestError:
    return InvalidRequestError(f"line {line}: {message}", param=field or f"line {line}")


def parse_lines(data: bytes) -> list[tuple[int, dict]]:
    """The file's objects with their 1-based line numbers (blank lines skipped); the first bad line raises."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise _bad(line, f"not UTF-8 (byte {error.start}); save the file as UTF-8") from error
    records = []
    for number, raw in enumerate(jsonl_lines(text), start=1):
        if not raw.strip():
            continue
        try:
            record = json.loads(raw)
        except json.JSONDecodeError as error:
            raise _bad(number, f"not valid JSON ({error.msg} at column {error.colno})") from error
        if not isinstance(record, dict):
            raise _bad(number, f"expected a JSON object, got {type(record).__name__}")
        records.append((number, record))
    if not records:
        raise InvalidRequestError("the file has no JSON lines", param="file")
    return records


def check_jsonl(data: bytes, purpose: str) -> None:
    """Raise InvalidRequestError at the first bad line of a JSONL purpose's file; other purposes pass."""
    if purpose not in JSONL_PURPOSES:
        return
    records = parse_lines(data)
    if purpose == "batch":
        check_batch_lines(records)
    elif purpose == "fine-tune":
        for number, record in records:
            _check_example(number, record)


def check_batch_lines(records: list[tuple[int, dict]]) -> None:
    """OpenAI's batch line: {"custom_id": unique str, "method": "POST", "url": a supported route, "body": {...}}."""
    seen: dict[str, int] = {}
    for number, record in records:
        custom_id = record.get("custom_id")
        if not isinstance(custom_id, str) or not custom_id:
            raise _bad(number, "custom_id must be a non-empty string", "custom_id")
        if custom_id in seen:
            raise _bad(number, f"custom_id {custom_id!r} repeats line {seen[custom_id]}; make each unique", "custom_id")
        seen[custom_id] = number
        if record.get("method", "POST") != "POST":
            raise _bad(number, f"method must be POST, got {record.get('method')!r}", "method")
        if record.get("url") not in BATCH_URLS:
            raise _bad(number, f"url must be one of {', '.join(BATCH_URLS)}, got {record.get('url')!r}", "url")
        body = record.get("body")
        if not isinstance(body, dict):
            raise _bad(number, "body must be a JSON object (the request's body)", "body")
        if not isinstance(body.get("model"), str):
            raise _bad(number, "body.model must be a string naming a served model", "body.model")


def _check_example(number: int, record: dict) -> None:
    if "messages" in record:
        messages = record["messages"]
        if not isinstance(messages, list) or not messages:
            raise _bad(number, "messages must be a non-empty list", "messages")
        for index, message in enumerate(messages):
            if not isinstance(message, dict) or not isinstance(message.get("role"), str):
                raise _bad(number, f"messages[{index}].role must be a string", f"messages[{index}].role")
            if not isinstance(message.get("content"), str):
                raise _bad(number, f"messages[{index}].content must be a string", f"messages[{index}].content")
        return
    if "input" in record:
        for field in ("preferred_output", "non_preferred_output"):
            if field not in record:
                raise _bad(number, f"a preference example needs {field}", field)
        return
    if "question" in record and "critique" in record:
        for field in ("question", "response", "critique"):
            if not isinstance(record.get(field), str):
                raise _bad(number, f"a critique example needs a string {field}", field)
        return
    if not isinstance(record.get("prompt"), str):
        raise _bad(
            number,
            "an example needs messages, prompt (+ response), input (+ preferred_output) or question (+ response, "
            "critique)",
            "messages",
        )
    if not isinstance(record.get("response", record.get("completion")), str):
        raise _bad(number, "a prompt example needs a string response (or completion)", "response")
