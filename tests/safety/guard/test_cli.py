"""`headwater guard train|check`: exact JSON keys, fail closed, report file, bad input exits 2."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from headwater.cli import app
from headwater.safety.guard import setup as guard_setup
from tests.safety.guard.conftest import marker_texts

runner = CliRunner()


def _rows(path, rows):
    path.write_text("\n".join(json.dumps(row) for row in rows) + "\n")
    return path


def test_check_json_keys_and_fail_closed(tmp_path, monkeypatch, scripted_generator):
    generator = scripted_generator(["safe", "unsafe\nS1, S9", "no idea"])
    monkeypatch.setattr(guard_setup, "generator_for", lambda *args: generator)
    data = _rows(
        tmp_path / "ft.jsonl",
        [
            {"prompt": "Name a river.", "completion": "The Nile."},
            {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]},
            {"prompt": "p", "completion": "c"},
        ],
    )
    report_path = tmp_path / "out" / "report.json"
    result = runner.invoke(
        app,
        [
            "guard",
            "check",
            str(data),
            "--model",
            "guard",
            "--base-url",
            "http://127.0.0.1:9/v1",
            "--json",
            "--output",
            str(report_path),
        ],
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert list(report) == ["total", "flagged", "flagged_fraction", "items"]
    assert (report["total"], report["flagged"]) == (3, 2)
    assert report["flagged_fraction"] == 2 / 3
    assert [list(item) for item in report["items"]] == [["line", "verdict", "categories", "score", "error"]] * 3
    assert report["items"][1]["categories"] == ["S1", "S9"]
    assert report["items"][2]["verdict"] == "unsafe" and report["items"][2]["error"]
    assert json.loads(report_path.read_text())["items"] == report["items"]


def test_check_bad_input_exits_2_naming_the_line(tmp_path, monkeypatch, scripted_generator):
    monkeypatch.setattr(guard_setup, "generator_for", lambda *args: scripted_generator([]))
    data = _rows(tmp_path / "bad.jsonl", [{"prompt": "q", "completion": "a"}, {"prompt": "only"}])
    result = runner.invoke(app, ["guard", "check", str(data), "--model", "g", "--base-url", "http://x/v1", "--json"])
    assert result.exit_code == 2
    assert result.stdout == "" and "line 2" in result.stderr and "completion" in result.stderr


def test_train_then_check_with_the_classifier(tmp_path, data_dir):
    texts, labels = marker_texts(40, seed=3)
    data = _rows(
        tmp_path / "labels.jsonl",
        [
            {"prompt": "Say something.", "completion": t, "label": "unsafe" if y else "safe"}
            for t, y in zip(texts, labels, strict=True)
        ],
    )
    folder = tmp_path / "clf"
    trained = runner.invoke(
        app,
        [
            "guard",
            "train",
            str(data),
            "--output",
            str(folder),
            "--model",
            "tiny-chat",
            "--data-dir",
            str(data_dir),
            "--json",
        ],
    )
    assert trained.exit_code == 0, trained.output
    summary = json.loads(trained.stdout)
    assert summary["examples"] == 40 and summary["train_accuracy"] >= 0.9
    held, held_labels = marker_texts(10, seed=8)
    upload = _rows(tmp_path / "upload.jsonl", [{"prompt": "Say something.", "completion": t} for t in held])
    checked = runner.invoke(
        app, ["guard", "check", str(upload), "--model", str(folder), "--data-dir", str(data_dir), "--json"]
    )
    assert checked.exit_code == 0, checked.output
    report = json.loads(checked.stdout)
    flags = [item["verdict"] == "unsafe" for item in report["items"]]
    assert sum(f == bool(y) for f, y in zip(flags, held_labels, strict=True)) >= 9
    assert all(item["score"] is not None and item["error"] is None for item in report["items"])


def test_train_refuses_a_bad_threshold(tmp_path):
    result = runner.invoke(
        app, ["guard", "train", str(tmp_path / "x.jsonl"), "--output", str(tmp_path), "--threshold", "2"]
    )
    assert result.exit_code == 2 and "--threshold" in result.stderr


class _MarkerGenerator:
    """Answers "unsafe" when the lower-case marker is in the conversation it is shown."""

    name = "marker"

    def __init__(self) -> None:
        self.prompts: list = []

    def generate(self, prompts, params=None):
        from headwater.models.generator import Generation

        self.prompts.extend(prompts)
        return [Generation("unsafe\nS2" if "zorblax" in p[0]["content"] else "safe", "stop", 1, 1) for p in prompts]


def test_check_defence_flags(tmp_path, monkeypatch):
    generator = _MarkerGenerator()
    monkeypatch.setattr(guard_setup, "generator_for", lambda *args: generator)
    data = _rows(tmp_path / "ft.jsonl", [{"prompt": "q", "completion": "A long benign answer. Then the ZORBLAX."}])
    base = ["guard", "check", str(data), "--model", "g", "--base-url", "http://x/v1", "--json"]
    assert json.loads(runner.invoke(app, base).stdout)["flagged"] == 0
    assert len(generator.prompts) == 1
    normalised = json.loads(runner.invoke(app, [*base, "--normalised"]).stdout)
    assert normalised["flagged"] == 1 and normalised["items"][0]["categories"] == ["S2"]
    generator.prompts.clear()
    assert runner.invoke(app, [*base, "--segments", "16"]).exit_code == 0
    assert len(generator.prompts) == 4  # the whole example, then its last turn in three pieces
    bad = runner.invoke(app, [*base, "--segments", "3"])
    assert bad.exit_code == 2 and "--segments" in bad.stderr
