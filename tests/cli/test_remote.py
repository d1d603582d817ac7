"""`headwater moderate`, `judge remote`, `detect remote` and `footprint remote` against the real server: a file
becomes a job that `--follow` watches to its end and whose result file `--output` saves."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from headwater.cli import app

runner = CliRunner()
ITEMS = [
    {"instruction": "Is 2 + 2 = 4?", "response": "Yes.", "criteria": "Is the response correct?", "label": "Yes"},
    {"instruction": "Name a colour.", "response": "Seven.", "criteria": "Is the response a colour?", "label": "No"},
]


def _invoke(server, *args: str):
    return runner.invoke(app, [*args, "--base-url", server.base_url, "--api-key", server.api_key])


def test_judge_remote_follows_the_job_and_saves_the_bench_report(server, tmp_path):
    items = tmp_path / "items.jsonl"
    items.write_text("".join(json.dumps(item) + "\n" for item in ITEMS))
    report = tmp_path / "report.json"
    result = _invoke(
        server,
        *("judge", "remote", str(items), "--model", server.model, "--kind", "classification"),
        *("--retries", "0", "--max-tokens", "16", "--follow", "--output", str(report), "--json"),
    )
    assert result.exit_code == 0, result.output
    job = json.loads(result.stdout.strip().splitlines()[-1])
    assert job["kind"] == "judge" and job["state"] == "succeeded" and job["result"]["items"] == 2
    saved = json.loads(report.read_text())
    assert saved["items"] == 2 and saved["kind"] == "classification" and saved["model"] == server.model


def test_footprint_remote_saves_the_html_report(server, tmp_path):
    portfolio = tmp_path / "portfolio.yaml"
    portfolio.write_text("use_cases: 20\nfactors:\n  pue: 1.3\n")
    page = tmp_path / "report.html"
    result = _invoke(server, "footprint", "remote", str(portfolio), "--follow", "--output", str(page), "--json")
    assert result.exit_code == 0, result.output
    job = json.loads(result.stdout.strip().splitlines()[-1])
    assert job["kind"] == "footprint" and job["params"]["document"]["use_cases"] == 20
    assert page.read_text().startswith("<!doctype html>") and "AI portfolio footprint" in page.read_text()


def test_moderate_names_the_missing_guard_and_uses_a_served_model_as_one(server):
    unconfigured = _invoke(server, "moderate", "a calm river")
    assert unconfigured.exit_code == 2 and "HEADWATER_MODERATION_GUARD" in unconfigured.output
    result = _invoke(server, "moderate", "a calm river", "--model", server.model, "--json")
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    # tiny-local is random: its reply is not a verdict, so the guard fails closed and flags the text
    assert answer["model"] == server.model and answer["results"][0]["flagged"] is True


def test_detect_remote_names_an_unknown_detector_and_needs_one_input(server, tmp_path):
    missing = _invoke(server, "detect", "remote", "--text", "Some words here.", "--detector", "nope")
    assert missing.exit_code == 2 and "[field: detector]" in missing.output
    both = _invoke(server, "detect", "remote", str(tmp_path / "x.jsonl"), "--text", "t", "--detector", "nope")
    assert both.exit_code == 2 and "either FILE or --text" in both.output
