"""`headwater chat` against the running server: one-shot JSON and the interactive loop."""

from __future__ import annotations

import json
import subprocess
import sys


def _chat(server, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    command = [
        sys.executable,
        "-m",
        "headwater",
        "chat",
        "--base-url",
        server.base_url,
        "--api-key",
        server.api_key,
        "--max-tokens",
        "5",
        *args,
    ]
    return subprocess.run(command, input=stdin, capture_output=True, text=True, timeout=120)


def test_one_shot_json(server):
    result = _chat(server, "-m", "hello", "--json")
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["model"] == server.model
    assert 1 <= answer["usage"]["completion_tokens"] <= 5


def test_interactive_session_streams_and_exits(server):
    result = _chat(server, stdin="hi\n/reset\nagain\n/exit\n")
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("you") >= 3


def test_bad_key_is_reported_not_a_traceback(server):
    command = [
        sys.executable,
        "-m",
        "headwater",
        "chat",
        "--base-url",
        server.base_url,
        "--api-key",
        "wrong",
        "-m",
        "hi",
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert "401" in result.stderr and "Traceback" not in result.stderr
