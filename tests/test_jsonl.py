"""JSONL readers read back what `json.dumps(..., ensure_ascii=False)` writes, whatever characters a string holds."""

from __future__ import annotations

import json

from headwater.jsonl import read_jsonl
from headwater.platform.jsonl_check import parse_lines


def test_line_breaks_other_than_newline_inside_a_string_stay_in_their_record(tmp_path):
    """A model's output once held U+0085, which `str.splitlines` breaks at: a red-team run then failed to read its own
    tests file ("not JSON")."""
    records = [{"prompt": "a\x85b\u2028c\u2029d\x1ce"}, {"prompt": "plain"}]
    path = tmp_path / "tests.jsonl"
    path.write_text("".join(json.dumps(record, ensure_ascii=False) + "\n" for record in records), encoding="utf-8")
    assert read_jsonl(path) == [(1, records[0]), (2, records[1])]


def test_windows_line_ends_are_read(tmp_path):
    path = tmp_path / "crlf.jsonl"
    path.write_bytes(b'{"a": 1}\r\n\r\n{"a": 2}\r\n')
    assert read_jsonl(path) == [(1, {"a": 1}), (3, {"a": 2})]


def test_an_upload_whose_strings_hold_other_line_breaks_is_one_record_per_line():
    lines = [{"prompt": "first\u2028half", "response": "x\x85y"}, {"prompt": "p", "response": "r"}]
    data = "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines).encode()
    assert parse_lines(data) == [(1, lines[0]), (2, lines[1])]
