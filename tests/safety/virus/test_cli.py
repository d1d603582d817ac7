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


def _pairs_file(path, pairs, instruction=True):
    rows = [{"instruction": p.instruction, "response": p.response, "harmful": p.harmful} for p in pairs]
    if instruction:
        rows = [{**row, "harmful_instruction": p.harmful_instruction} for row, p in zip(rows, pairs, strict=True)]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def _attack(pairs_file, guard, victim, output, *extra):
    arguments = ["guard", "attack", str(pairs_file), "--guard", str(guard), "--victim", str(victim)]
    return runner.invoke(app, [*arguments, "--prompt", "chat", "--output", str(output), *extra])


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
        "--swaps",
        "32",
        "--top-k",
        "8",
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


def test_attack_defaults_to_the_official_lora_and_the_whole_harmful_sample(saved_pair, pairs, tmp_path, monkeypatch):
    import headwater.safety.virus.victim as victim_module

    guard, victim = saved_pair
    prepared = []
    original = victim_module.prepare_victim
    monkeypatch.setattr(
        victim_module, "prepare_victim", lambda *a, **k: prepared.append(original(*a, **k)) or prepared[-1]
    )
    pairs_file = _pairs_file(tmp_path / "pairs.jsonl", pairs[:1])
    result = _attack(pairs_file, guard, victim, tmp_path / "sample.jsonl", "--steps", "0", "--json")
    assert result.exit_code == 0, result.output
    lora = prepared[0].peft_config["default"]
    assert (lora.r, lora.lora_alpha, set(lora.target_modules)) == (32, 4.0, {"q_proj", "k_proj", "v_proj"})
    trainable = {name.split(".")[-4] for name, param in prepared[0].named_parameters() if param.requires_grad}
    assert trainable == {"q_proj", "k_proj", "v_proj"}
    [item] = [json.loads(line) for line in (tmp_path / "sample.jsonl").read_text().splitlines()]
    assert pairs[0].harmful_instruction in item["block"] and pairs[0].harmful in item["block"]  # step 0: x = h
    assert "<|im_start|>user" in item["block"]  # in the victim's chat template
    answer = _attack(pairs_file, guard, victim, tmp_path / "answer.jsonl", "--steps", "0", "--optimise", "answer")
    assert answer.exit_code == 0, answer.output
    [item] = [json.loads(line) for line in (tmp_path / "answer.jsonl").read_text().splitlines()]
    assert item["block"] == " " + pairs[0].harmful
    custom = _attack(
        pairs_file, guard, victim, tmp_path / "custom.jsonl", "--steps", "0", "--lora-rank", "4", "--lora-alpha", "8",
        "--target-modules", "q_proj,o_proj", "--target-modules", "down_proj",
    )  # fmt: skip
    assert custom.exit_code == 0, custom.output
    lora = prepared[-1].peft_config["default"]
    assert (lora.r, lora.lora_alpha, set(lora.target_modules)) == (4, 8.0, {"q_proj", "o_proj", "down_proj"})


@pytest.mark.parametrize(
    ("extra", "instruction", "message"),
    [
        (["--target-modules", "c_attn"], True, "--target-modules c_attn: no linear layer of the victim has that name"),
        (["--target-modules", "q_proj,,v_proj"], True, "--target-modules must name at least one layer"),
        (["--optimise", "whole"], True, "--optimise must be one of sample, answer, got 'whole'"),
        (["--lora-alpha", "0"], True, "--lora-alpha must be above 0"),
        (["--lora-rank", "0"], True, "--lora-rank must be at least 1"),
        ([], False, "line 1: field `harmful_instruction` must be a non-empty text"),
    ],
)
def test_attack_refuses_bad_lora_and_block_settings(saved_pair, pairs, tmp_path, extra, instruction, message):
    guard, victim = saved_pair
    pairs_file = _pairs_file(tmp_path / "pairs.jsonl", pairs[:1], instruction=instruction)
    result = _attack(pairs_file, guard, victim, tmp_path / "o.jsonl", "--steps", "0", *extra)
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.stderr.split())
    assert not (tmp_path / "o.jsonl").exists()


def test_answer_mode_needs_no_harmful_instruction(saved_pair, pairs, tmp_path):
    guard, victim = saved_pair
    pairs_file = _pairs_file(tmp_path / "pairs.jsonl", pairs[:1], instruction=False)
    result = _attack(pairs_file, guard, victim, tmp_path / "o.jsonl", "--steps", "0", "--optimise", "answer")
    assert result.exit_code == 0, result.output
