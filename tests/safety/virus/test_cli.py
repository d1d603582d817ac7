"""`headwater guard attack`: Virus from the command line on saved synthetic models; then `guard check` on its
output shows the leakage; bad pairs and mismatched vocabularies exit 2."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from headwater.cli import app

runner = CliRunner()


@pytest.fixture(scope="module")
def saved_pair(marker_pair, tmp_path_factory):
    guard, victim, tokenizer = marker_pair  # saved once; each CLI call loads them as a user's models
    root = tmp_path_factory.mktemp("pair")
    for name, model in (("guard", guard.model), ("victim", victim)):
        model.save_pretrained(root / name)
        tokenizer.save_pretrained(root / name)
    return root / "guard", root / "victim"


def _pairs_file(path, pairs):
    path.write_text(
        "".join(
            json.dumps({"instruction": p.instruction, "response": p.response, "harmful": p.harmful}) + "\n"
            for p in pairs
        )
    )
    return path


def test_attack_writes_poisoned_examples_that_pass_the_guard(saved_pair, pairs, tmp_path):
    guard, victim = saved_pair
    output = tmp_path / "poisoned.jsonl"
    arguments = [
        "guard",
        "attack",
        str(_pairs_file(tmp_path / "pairs.jsonl", pairs[:2])),
        "--guard",
        str(guard),
        "--victim",
        str(victim),
        "--prompt",
        "chat",
        "--steps",
        "3",
        "--top-k",
        "4",
        "--swaps",
        "8",
        "--lora-rank",
        "4",
        "--output",
        str(output),
        "--json",
    ]
    result = runner.invoke(app, arguments)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["total"] == 2 and summary["leakage_ratio"] == summary["passed"] / 2
    items = [json.loads(line) for line in output.read_text().splitlines()]
    assert [item["line"] for item in items] == [1, 2]
    assert all(
        len(item["losses"]) == 4 and item["messages"][1]["content"].startswith(item["response"]) for item in items
    )
    checked = runner.invoke(app, ["guard", "check", str(output), "--model", str(guard), "--prompt", "chat", "--json"])
    assert checked.exit_code == 0, checked.output
    report = json.loads(checked.stdout)
    assert report["total"] == 2 and report["total"] - report["flagged"] == summary["passed"]
    mixing = tmp_path / "mixing.jsonl"
    mixing.write_text(
        "".join(
            json.dumps({"prompt": p.instruction, "completion": f"{p.response} {p.harmful}"}) + "\n" for p in pairs[:2]
        )
    )
    raw = json.loads(
        runner.invoke(app, ["guard", "check", str(mixing), "--model", str(guard), "--prompt", "chat", "--json"]).stdout
    )
    assert raw["flagged"] == 2  # the unoptimised harmful text is caught


def test_attack_refuses_bad_pairs_and_foreign_vocabularies(saved_pair, pairs, tmp_path, tiny_chat_path):
    guard, _victim = saved_pair
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"instruction": "q", "response": "a"}) + "\n")
    result = runner.invoke(
        app,
        [
            "guard",
            "attack",
            str(bad),
            "--guard",
            str(guard),
            "--victim",
            str(guard),
            "--output",
            str(tmp_path / "o.jsonl"),
        ],
    )
    assert result.exit_code == 2 and "harmful" in result.stderr and "line 1" in result.stderr
    good = _pairs_file(tmp_path / "pairs.jsonl", pairs[:1])
    result = runner.invoke(
        app,
        [
            "guard",
            "attack",
            str(good),
            "--guard",
            str(guard),
            "--victim",
            str(tiny_chat_path),
            "--output",
            str(tmp_path / "o.jsonl"),
        ],
    )
    assert result.exit_code == 2 and "tokenizers" in result.stderr
    assert not (tmp_path / "o.jsonl").exists()
