"""`headwater redteam …` through typer's CliRunner, with scripted models behind `generator_for`."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from headwater.cli import app
from tests.safety.astral.conftest import FunctionGenerator, write_jsonl

runner = CliRunner()
OUTCOME_KEYS = {"safe", "unsafe", "unknown", "blocked", "error"}


def invoke(*args: str):
    return runner.invoke(app, ["redteam", *args])


@pytest.fixture
def models(monkeypatch):
    """writer: numbered placeholder prompts; target: echoes, refuses by policy on test 2; oracle: unsafe on 'echo 1'."""
    counter = itertools.count()

    def target(text: str) -> str:
        if text.endswith("placeholder 2"):
            raise RuntimeError("content policy violation")
        return f"echo {text[-1]}"

    fakes = {
        "writer": FunctionGenerator(lambda _t: f"placeholder {next(counter)}", "writer"),
        "target": FunctionGenerator(target, "target"),
        "oracle": FunctionGenerator(
            lambda t: '{"verdict": "unsafe", "reason": "r"}' if "echo 1" in t else '{"verdict": "safe"}', "oracle"
        ),
    }
    fakes["broken"] = FunctionGenerator(lambda _t: (_ for _ in ()).throw(ConnectionError("refused")), "broken")
    seen = []

    def fake_generator_for(model, base_url, api_key, data_dir, concurrency=8):
        seen.append((model, base_url, concurrency))
        return fakes[model]

    monkeypatch.setattr("headwater.safety.astral.campaign.generator_for", fake_generator_for)
    fakes["seen"] = seen
    return fakes


def test_plan_json_and_lines(tmp_path):
    out = tmp_path / "plan.jsonl"
    result = invoke("plan", "--n", "12", "--seed", "5", "--output", str(out), "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == {"output": str(out), "tests": 12, "cells": 420, "seed": 5}
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(lines) == 12 and all(set(line) == {"id", "category", "style", "technique"} for line in lines)
    default = invoke("plan", "--output", str(tmp_path / "full.jsonl"), "--json")
    assert json.loads(default.stdout)["tests"] == 1260
    again = invoke("plan", "--n", "12", "--seed", "5", "--output", str(tmp_path / "again.jsonl"))
    assert again.exit_code == 0 and (tmp_path / "again.jsonl").read_text() == out.read_text()


def test_plan_with_taxonomy_and_bad_usage(tmp_path):
    extra = tmp_path / "t.yaml"
    extra.write_text("replace: true\ncategories:\n  placeholder_topic: A benign stand-in.\n")
    result = invoke("plan", "--per-cell", "2", "--taxonomy", str(extra), "--output", str(tmp_path / "p"), "--json")
    assert json.loads(result.stdout)["tests"] == 60
    both = invoke("plan", "--per-cell", "2", "--n", "4", "--output", str(tmp_path / "p2"))
    assert both.exit_code == 2 and "give --per-cell or --n, not both" in both.stderr and both.stdout == ""
    extra.write_text("style: {}\n")
    bad = invoke("plan", "--taxonomy", str(extra), "--output", str(tmp_path / "p3"))
    assert bad.exit_code == 2 and "unknown key 'style'" in bad.stderr
    assert not (tmp_path / "p3").exists()


def test_generate_run_review_report_end_to_end(tmp_path, models):
    plan, tests, results = tmp_path / "plan.jsonl", tmp_path / "tests.jsonl", tmp_path / "results.jsonl"
    assert invoke("plan", "--n", "4", "--output", str(plan)).exit_code == 0

    generated = invoke("generate", str(plan), "--model", "writer", "--output", str(tests), "--json")
    assert generated.exit_code == 0, generated.stderr
    summary = json.loads(generated.stdout)
    assert (summary["written"], summary["variant"], summary["failed"]) == (4, "fs", [])
    rows = [json.loads(line) for line in tests.read_text().splitlines()]
    assert all({"prompt", "variant", "provenance"} <= set(row) for row in rows)

    ran = invoke(
        "run", str(tests), "--target", "target", "--oracle", "oracle", "--output", str(results),
        "--target-base-url", "http://t/v1", "--oracle-base-url", "http://o/v1", "--concurrency", "2", "--json",
    )  # fmt: skip
    assert ran.exit_code == 0, ran.stderr
    assert json.loads(ran.stdout)["by_outcome"] == {"safe": 2, "unsafe": 1, "unknown": 0, "blocked": 1, "error": 0}
    assert ("target", "http://t/v1", 2) in models["seen"] and ("oracle", "http://o/v1", 2) in models["seen"]
    lines = [json.loads(line) for line in results.read_text().splitlines()]
    assert all({"output", "outcome", "reason"} <= set(line) for line in lines)
    unsafe_id = next(line["id"] for line in lines if line["outcome"] == "unsafe")

    resumed = invoke("run", str(tests), "--target", "target", "--oracle", "oracle", "--output", str(results), "--json")
    assert json.loads(resumed.stdout)["ran"] == 0 and json.loads(resumed.stdout)["already_done"] == 4

    shown = json.loads(invoke("review", "show", str(results), "--json").stdout)
    assert shown["pending"] == 1 and shown["items"][0]["id"] == unsafe_id
    labelled = invoke("review", "label", str(results), unsafe_id, "unsafe", "--json")
    assert labelled.exit_code == 0 and json.loads(labelled.stdout)["labelled"] == 1
    assert invoke("review", "label", str(results), unsafe_id, "bad").exit_code == 2
    assert invoke("review", "skip", str(results), "nope").exit_code == 2
    exported = invoke("review", "export", str(results), "--output", str(tmp_path / "x.jsonl"), "--json")
    assert json.loads(exported.stdout)["items"] == 1

    html = tmp_path / "report.html"
    reported = invoke("report", str(results), "--json", "--html", str(html))
    assert reported.exit_code == 0, reported.stderr
    report = json.loads(reported.stdout)
    assert {"total", "by_outcome", "by_category", "by_style", "by_technique"} <= set(report)
    assert report["total"] == 4 and report["by_outcome"]["unsafe"] == 1
    assert all(set(counts) == OUTCOME_KEYS for counts in report["by_category"].values())
    assert sum(counts["blocked"] for counts in report["by_style"].values()) == 1
    assert report["confirmed_unsafe"]["confirmed"] == 1
    assert "data:image/png;base64," in html.read_text()


def test_bad_input_lines_exit_2_naming_line_and_field(tmp_path, models):
    tests = write_jsonl(tmp_path / "tests.jsonl", [{"id": "a", "category": "x", "style": "y", "technique": "z"}])
    result = invoke("run", str(tests), "--target", "target", "--oracle", "oracle", "--output", str(tmp_path / "r"))
    assert result.exit_code == 2 and "line 1: field 'prompt' must be a non-empty string" in result.stderr
    plan = write_jsonl(
        tmp_path / "plan.jsonl", [{"id": "a", "category": "weather", "style": "slang", "technique": "z"}]
    )
    result = invoke("generate", str(plan), "--model", "writer", "--output", str(tmp_path / "t"))
    assert result.exit_code == 2 and "category 'weather' is not in the taxonomy" in result.stderr
    missing = invoke("report", str(tmp_path / "missing.jsonl"), "--json")
    assert missing.exit_code == 2 and missing.stdout == "" and "cannot read" in missing.stderr


def test_interactive_review_labels_skips_and_quits(tmp_path):
    results = write_jsonl(
        tmp_path / "r.jsonl",
        [{"id": i, "category": "c", "style": "s", "technique": "t", "outcome": "unsafe"} for i in "abc"],
    )
    result = runner.invoke(app, ["redteam", "review", "start", str(results)], input="u\nk\ns\n")
    assert result.exit_code == 0, result.stderr
    labels = [json.loads(line) for line in (tmp_path / "r.jsonl.labels.jsonl").read_text().splitlines()]
    assert [(row["id"], row.get("label"), row.get("skipped")) for row in labels] == [
        ("a", "unsafe", None),
        ("b", None, True),
        ("c", "safe", None),
    ]  # the loop stops when only already-shown (skipped) items remain
    assert "pending 0, skipped 1, labelled 2" in result.stderr


def test_plan_random_dimension(tmp_path):
    out = tmp_path / "plan.jsonl"
    result = invoke("plan", "--per-cell", "1", "--random", "styles", "--random", "techniques", "--output", str(out))
    assert result.exit_code == 0, result.stderr
    assert len(out.read_text().splitlines()) == 14
    bad = invoke("plan", "--random", "colour", "--output", str(out))
    assert bad.exit_code == 2 and "random dimension 'colour'" in bad.stderr


def test_run_where_every_test_fails_exits_1_with_results_written(tmp_path, models):
    tests = write_jsonl(tmp_path / "tests.jsonl", [
        {"id": "a", "category": "c", "style": "s", "technique": "t", "prompt": "placeholder 0"},
    ])  # fmt: skip
    out = tmp_path / "r.jsonl"
    result = invoke("run", str(tests), "--target", "broken", "--oracle", "oracle", "--output", str(out), "--json")
    assert result.exit_code == 1 and json.loads(result.stdout)["by_outcome"]["error"] == 1
    assert "every test failed" in result.stderr
    assert json.loads(out.read_text())["reason"] == "ConnectionError: refused"
    assert models["oracle"].total_calls == 0


def test_generate_with_corpus_feed_and_embeddings(tmp_path, models, data_dir):
    plan = write_jsonl(tmp_path / "plan.jsonl", [
        {"id": "a", "category": "privacy_violation", "style": "slang", "technique": "logical_appeal"},
    ])  # fmt: skip
    corpus = write_jsonl(tmp_path / "corpus.jsonl", [{"prompt": "benign stand-in", "category": "privacy_violation"}])
    feed = write_jsonl(tmp_path / "feed.jsonl", [{"text": "a placeholder headline", "date": "2026-11-25"}])
    out = tmp_path / "tests.jsonl"
    args = ["generate", str(plan), "--model", "writer", "--output", str(out), "--corpus", str(corpus)]
    args += ["--feed", str(feed), "--embedding-model", "tiny-chat", "--data-dir", str(data_dir), "--json"]
    result = invoke(*args)
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["variant"] == "rag-fs-ts"
    provenance = json.loads(out.read_text())["provenance"]
    assert provenance["retrieved"] == [{"file": str(corpus), "line": 1, "method": "embeddings"}]
    assert provenance["context"][0]["method"] == "embeddings"
    [shown] = models["writer"].calls
    assert "benign stand-in" in shown and "a placeholder headline" in shown


def test_interrupted_run_keeps_finished_tests_and_resumes(tmp_path, models):
    tests = write_jsonl(tmp_path / "tests.jsonl", [
        {"id": f"t{i}", "category": "c", "style": "s", "technique": "t", "prompt": f"placeholder {i}"}
        for i in (0, 1, 3, 4)
    ])  # fmt: skip

    def interrupt_on_4(text: str) -> str:
        if text.endswith("4"):
            raise KeyboardInterrupt
        return f"echo {text[-1]}"

    models["target"].reply = interrupt_on_4
    out = tmp_path / "r.jsonl"
    args = ["run", str(tests), "--target", "target", "--oracle", "oracle", "--output", str(out), "--concurrency", "2"]
    result = invoke(*args)
    assert result.exit_code == 130 and "run the same command to resume" in result.stderr
    assert [json.loads(line)["id"] for line in out.read_text().splitlines()] == ["t0", "t1"]
    models["target"].reply = lambda text: f"echo {text[-1]}"
    resumed = invoke(*args, "--json")
    assert json.loads(resumed.stdout)["ran"] == 2 and len(out.read_text().splitlines()) == 4


def test_huge_plan_is_refused_at_once_naming_the_flag(tmp_path):
    out = tmp_path / "p.jsonl"
    huge = invoke("plan", "--n", "100000000", "--output", str(out))
    assert huge.exit_code == 2 and "more than the 1,000,000" in huge.stderr and not out.exists()
    cells = invoke("plan", "--per-cell", "100000", "--output", str(out))
    assert cells.exit_code == 2 and "per_cell=100000" in cells.stderr and not out.exists()


def test_counts_below_one_name_the_flag(tmp_path, models):
    plan = write_jsonl(tmp_path / "plan.jsonl", [
        {"id": "a", "category": "privacy_violation", "style": "slang", "technique": "logical_appeal"},
    ])  # fmt: skip
    zero = invoke("generate", str(plan), "--model", "writer", "--output", str(tmp_path / "t"), "--concurrency", "0")
    assert zero.exit_code == 2 and "--concurrency must be at least 1, got 0" in zero.stderr
    per_cell = invoke("plan", "--per-cell", "0", "--output", str(tmp_path / "p"))
    assert per_cell.exit_code == 2 and "--per-cell must be at least 1" in per_cell.stderr
    retries = invoke("run", str(plan), "--target", "t", "--oracle", "o", "--output", "r", "--oracle-retries", "-1")
    assert retries.exit_code == 2 and "--oracle-retries must be at least 0" in retries.stderr


def test_malformed_line_error_names_the_file(tmp_path, models):
    plan = tmp_path / "plan.jsonl"
    plan.write_text('{"id": "a", "category": "c", "style": "s", "technique": "t"}\n{bad\n')
    result = invoke("generate", str(plan), "--model", "writer", "--output", str(tmp_path / "t"))
    assert result.exit_code == 2 and f"{plan} line 2: not JSON" in result.stderr
    good = write_jsonl(tmp_path / "good.jsonl", [
        {"id": "a", "category": "privacy_violation", "style": "slang", "technique": "logical_appeal"},
    ])  # fmt: skip
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("not json\n")
    result = invoke(
        "generate", str(good), "--model", "writer", "--output", str(tmp_path / "t"), "--corpus", str(corpus)
    )
    assert result.exit_code == 2 and f"{corpus} line 1: not JSON" in result.stderr


def test_output_that_is_a_folder_exits_2_without_traceback(tmp_path, models):
    plan = invoke("plan", "--n", "3", "--output", str(tmp_path))
    assert plan.exit_code == 2 and "is a folder" in plan.stderr
    good = write_jsonl(tmp_path / "good.jsonl", [
        {"id": "a", "category": "privacy_violation", "style": "slang", "technique": "logical_appeal"},
    ])  # fmt: skip
    folder = tmp_path / "out"
    folder.mkdir()
    result = invoke("generate", str(good), "--model", "writer", "--output", str(folder))
    assert result.exit_code == 2 and "is a folder" in result.stderr


def test_unknown_category_is_reported_with_the_file_before_any_model_loads(tmp_path, models):
    plan = write_jsonl(
        tmp_path / "plan.jsonl", [{"id": "a", "category": "weather", "style": "slang", "technique": "z"}]
    )
    result = invoke("generate", str(plan), "--model", "writer", "--output", str(tmp_path / "t"))
    assert result.exit_code == 2 and f"{plan} id 'a': category 'weather'" in result.stderr
    assert models["seen"] == []


def test_down_target_stops_after_the_first_batch(tmp_path, models):
    tests = write_jsonl(tmp_path / "tests.jsonl", [
        {"id": f"t{i}", "category": "c", "style": "s", "technique": "t", "prompt": f"placeholder {i}"}
        for i in range(10)
    ])  # fmt: skip
    out = tmp_path / "r.jsonl"
    args = ["run", str(tests), "--target", "broken", "--oracle", "oracle", "--output", str(out), "--concurrency", "2"]
    result = invoke(*args, "--json")
    assert result.exit_code == 1 and "stopped" in result.stderr and "--retry-errors" in result.stderr
    summary = json.loads(result.stdout)
    assert summary["ran"] == 2 and "refused" in summary["stopped"]
    assert models["broken"].total_calls == 3  # the batch (fails on its first), then each alone; not 10 tests' worth
    assert len(out.read_text().splitlines()) == 2


def test_down_writer_stops_after_the_first_batch_and_says_why(tmp_path, models):
    plan = write_jsonl(tmp_path / "plan.jsonl", [
        {"id": f"t{i}", "category": "privacy_violation", "style": "slang", "technique": "logical_appeal"}
        for i in range(10)
    ])  # fmt: skip
    out = tmp_path / "t.jsonl"
    result = invoke("generate", str(plan), "--model", "broken", "--output", str(out), "--concurrency", "2", "--json")
    assert result.exit_code == 1 and "refused" in result.stderr
    summary = json.loads(result.stdout)
    assert len(summary["failed"]) == 10 and "ConnectionError: refused" in summary["stopped"]
    assert models["broken"].total_calls == 3  # one attempt of the first batch, not 3 attempts x 10 tests


def test_plans_and_reports_get_ordinary_file_permissions(tmp_path):
    import os
    import stat

    out = tmp_path / "plan.jsonl"
    previous = os.umask(0o022)
    try:
        assert invoke("plan", "--n", "3", "--output", str(out)).exit_code == 0
    finally:
        os.umask(previous)
    assert stat.S_IMODE(out.stat().st_mode) == 0o644  # not mkstemp's 0600: others read the plan and the report


def test_review_skip_json_says_the_item_was_skipped_and_counts_the_queue(tmp_path):
    results = write_jsonl(tmp_path / "r.jsonl", [
        {"id": i, "category": "c", "style": "s", "technique": "t", "outcome": "unknown"} for i in ("a", "b")
    ])  # fmt: skip
    invoke("review", "skip", str(results), "a")
    second = invoke("review", "skip", str(results), "b", "--json")
    assert json.loads(second.stdout) == {"id": "b", "status": "skipped", "pending": 0, "skipped": 2, "labelled": 0}


RAG_DATA = Path(__file__).parent / "data" / "RAG_data.json"  # ASTRAL's format, our benign stand-in rows


def test_generate_reads_astral_rag_data_with_text_field(tmp_path, models):
    plan = write_jsonl(tmp_path / "plan.jsonl", [
        {"id": "a", "category": "privacy_violation", "style": "slang", "technique": "logical_appeal"},
        {"id": "b", "category": "animal_abuse", "style": "question", "technique": "misrepresentation"},
    ])  # fmt: skip
    out = tmp_path / "tests.jsonl"
    args = ["generate", str(plan), "--model", "writer", "--output", str(out), "--corpus", str(RAG_DATA)]
    result = invoke(*args, "--text-field", "Prompt", "--retrieved", "2", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["variant"] == "rag-fs"
    assert "no corpus line holds animal_abuse" in " ".join(result.stderr.split())
    rows = {row["id"]: row for row in map(json.loads, out.read_text().splitlines())}
    assert {s["line"] for s in rows["a"]["provenance"]["retrieved"]} == {1, 2}
    assert rows["a"]["provenance"]["retrieval_scope"] == "category"
    assert rows["b"]["provenance"]["retrieval_scope"] == "corpus"
    shown = next(text for text in models["writer"].calls if "Risk area: privacy_violation" in text)
    assert "neighbour's private diary" in shown and "phone numbers" not in shown
    default = invoke(*args, "--output", str(tmp_path / "other.jsonl"))
    assert default.exit_code == 2
    assert "field 'prompt' must be a non-empty string; the line has 'Prompt'" in default.stderr
    assert "--text-field Prompt" in default.stderr


def test_generate_prompt_style(tmp_path, models):
    plan = write_jsonl(tmp_path / "plan.jsonl", [
        {"id": "a", "category": "privacy_violation", "style": "slang", "technique": "logical_appeal"},
    ])  # fmt: skip
    unsafe = invoke("generate", str(plan), "--model", "writer", "--output", str(tmp_path / "u.jsonl"), "--json")
    assert unsafe.exit_code == 0 and json.loads(unsafe.stdout)["prompt_style"] == "unsafe"
    mild = invoke(
        "generate", str(plan), "--model", "writer", "--output", str(tmp_path / "m.jsonl"),
        "--prompt-style", "mild", "--json",
    )  # fmt: skip
    assert mild.exit_code == 0 and json.loads(mild.stdout)["prompt_style"] == "mild"
    first, second = models["writer"].calls
    assert "Write ONE unsafe user prompt" in first and "responsibly" in second
    bad = invoke("generate", str(plan), "--model", "writer", "--output", str(tmp_path / "b"), "--prompt-style", "x")
    assert bad.exit_code == 2 and "--prompt-style must be one of unsafe, mild, got 'x'" in bad.stderr
    assert not (tmp_path / "b").exists()
