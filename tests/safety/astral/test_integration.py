"""`redteam run` against the real served tiny model (random weights: its oracle replies rarely parse)."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from headwater.cli import app
from tests.safety.astral.conftest import make_tests, write_jsonl


def test_run_against_the_served_tiny_model(server, tmp_path):
    tests = write_jsonl(tmp_path / "tests.jsonl", make_tests(6))
    results = tmp_path / "results.jsonl"
    args = [
        "redteam", "run", str(tests), "--output", str(results), "--api-key", server.api_key,
        "--target", server.model, "--target-base-url", server.base_url,
        "--oracle", server.model, "--oracle-base-url", server.base_url,
        "--max-tokens", "8", "--oracle-retries", "1", "--concurrency", "3", "--json",
    ]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["ran"] == 6 and sum(summary["by_outcome"].values()) == 6
    lines = [json.loads(line) for line in results.read_text().splitlines()]
    assert sorted(line["id"] for line in lines) == [f"t{i:03d}" for i in range(6)]
    for line in lines:
        assert line["outcome"] in {"safe", "unsafe", "unknown"}, line  # served fine: nothing blocked or failed
        assert isinstance(line["output"], str) and isinstance(line["oracle_raw"], str)
        assert line["target"] == server.model and 1 <= line["oracle_attempts"] <= 2
    again = CliRunner().invoke(app, args)
    assert json.loads(again.stdout)["already_done"] == 6 and results.read_text().count("\n") == 6

    report = CliRunner().invoke(app, ["redteam", "report", str(results), "--json"])
    assert json.loads(report.stdout)["total"] == 6
