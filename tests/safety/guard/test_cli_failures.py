"""`headwater guard` failure modes found in acceptance testing: every one names the option or field and the fix,
exits 2 (bad input) / 1 (run failure) / 130 (interrupted), prints no traceback and leaves no half-written file."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from headwater.cli import app
from headwater.models.openai_generator import GenerationFailed, GenerationRefused
from headwater.safety.guard import setup as guard_setup

runner = CliRunner()
SERVED = ["--model", "g", "--base-url", "http://127.0.0.1:9/v1", "--json"]


@pytest.fixture
def upload(tmp_path):
    path = tmp_path / "ft.jsonl"
    path.write_text(json.dumps({"prompt": "Name a river.", "completion": "The Nile."}) + "\n")
    return path


class _Failing:
    """A generator that raises, as a guard server that is down (or a library bug) does midway."""

    name = "failing"

    def __init__(self, error: BaseException) -> None:
        self.error = error

    def generate(self, prompts, params=None):
        raise self.error


def _no_guard(*args):
    raise AssertionError("the guard must not be built when an option is wrong")


@pytest.mark.parametrize(
    ("arguments", "option"),
    [
        (["--threshold", "1.5"], "--threshold"),
        (["--prompt", "bogus"], "--prompt"),
        (["--segments", "3"], "--segments"),
        (["--segments", "-5"], "--segments"),
        (["--perplexity-threshold", "0"], "--perplexity-threshold"),
    ],
)
def test_check_options_are_refused_up_front_naming_the_flag(upload, monkeypatch, arguments, option):
    monkeypatch.setattr(guard_setup, "base_guard", _no_guard)
    result = runner.invoke(app, ["guard", "check", str(upload), *SERVED, *arguments])
    assert result.exit_code == 2, result.output
    assert option in result.stderr and result.stdout == "" and "Traceback" not in result.output


def test_check_output_that_is_a_folder_is_refused_before_the_run_and_leaves_nothing(upload, tmp_path, monkeypatch):
    monkeypatch.setattr(guard_setup, "base_guard", _no_guard)
    folder = tmp_path / "reports"
    folder.mkdir()
    result = runner.invoke(app, ["guard", "check", str(upload), *SERVED, "--output", str(folder)])
    assert result.exit_code == 2 and "--output" in result.stderr and "report.json" in result.stderr
    assert list(folder.iterdir()) == [] and not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_a_guard_server_that_is_down_is_a_run_failure(upload, monkeypatch):
    down = GenerationFailed("http://127.0.0.1:9/v1/chat/completions failed 5 times; last: ConnectError: refused")
    monkeypatch.setattr(guard_setup, "generator_for", lambda *args: _Failing(down))
    result = runner.invoke(app, ["guard", "check", str(upload), *SERVED])
    assert result.exit_code == 1 and "ConnectError" in result.stderr and result.stdout == ""


def test_a_refused_request_is_bad_usage(upload, monkeypatch):
    refused = GenerationRefused("HTTP 401: invalid or revoked API key")
    monkeypatch.setattr(guard_setup, "generator_for", lambda *args: _Failing(refused))
    result = runner.invoke(app, ["guard", "check", str(upload), *SERVED])
    assert result.exit_code == 2 and "401" in result.stderr


def test_an_unexpected_failure_exits_1_without_a_traceback(upload, tmp_path, monkeypatch):
    monkeypatch.setattr(guard_setup, "generator_for", lambda *args: _Failing(KeyError("choices")))
    report = tmp_path / "report.json"
    result = runner.invoke(app, ["guard", "check", str(upload), *SERVED, "--output", str(report)])
    assert result.exit_code == 1 and "guard check failed: KeyError" in result.stderr
    assert "Traceback" not in result.output and not report.exists()


def test_an_interrupted_check_writes_nothing(upload, tmp_path, monkeypatch):
    monkeypatch.setattr(guard_setup, "generator_for", lambda *args: _Failing(KeyboardInterrupt()))
    report = tmp_path / "report.json"
    result = runner.invoke(app, ["guard", "check", str(upload), *SERVED, "--output", str(report)])
    assert result.exit_code == 130 and "nothing was written" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ft.jsonl"]


@pytest.mark.parametrize(
    ("arguments", "option"),
    [
        (["--lambda", "2"], "--lambda"),
        (["--top-k", "0"], "--top-k"),
        (["--swaps", "0"], "--swaps"),
        (["--steps", "-1"], "--steps"),
        (["--lora-rank", "0"], "--lora-rank"),
        (["--prompt", "bogus"], "--prompt"),
    ],
)
def test_attack_options_are_refused_up_front_naming_the_flag(tmp_path, arguments, option):
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text(json.dumps({"instruction": "i", "response": "r", "harmful": "h"}) + "\n")
    base = ["guard", "attack", str(pairs), "--guard", "nowhere-g", "--victim", "nowhere-v"]
    result = runner.invoke(app, [*base, "--output", str(tmp_path / "out.jsonl"), *arguments])
    assert result.exit_code == 2, result.output
    assert option in result.stderr and "Traceback" not in result.output


def test_attack_output_that_is_a_folder_is_refused(tmp_path):
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text(json.dumps({"instruction": "i", "response": "r", "harmful": "h"}) + "\n")
    arguments = ["guard", "attack", str(pairs), "--guard", "g", "--victim", "v", "--output", str(tmp_path)]
    result = runner.invoke(app, arguments)
    assert result.exit_code == 2 and "--output" in result.stderr and "Traceback" not in result.output


def test_train_output_that_is_a_file_is_refused(tmp_path):
    labels = tmp_path / "labels.jsonl"
    labels.write_text(json.dumps({"text": "a calm river", "label": "safe"}) + "\n")
    taken = tmp_path / "guard"
    taken.write_text("not a folder")
    result = runner.invoke(app, ["guard", "train", str(labels), "--output", str(taken)])
    assert result.exit_code == 2 and "--output" in result.stderr and "folder" in result.stderr


def test_threshold_keeps_a_flag_from_the_perplexity_defence(upload, monkeypatch):
    """--threshold re-decides the scoring guard's verdicts, not the ensemble's: the perplexity filter has no score, so
    thresholding the combined verdict by the guard's score used to clear its flag."""
    import headwater.models.loading as loading
    import headwater.safety.guard as guard_package
    from headwater.safety.guard import Verdict

    class LowScore:
        name = "low"

        def moderate(self, items):
            return [Verdict("safe", (), 0.1) for _ in items]

    class Gibberish:
        name = "perplexity"

        def __init__(self, *args):
            pass

        def moderate(self, items):
            return [Verdict("unsafe", ("perplexity",), None, None, "5000.00") for _ in items]

    monkeypatch.setattr(guard_setup, "base_guard", lambda *args: LowScore())
    monkeypatch.setattr(loading, "load_model", lambda *args, **kwargs: None)
    monkeypatch.setattr(loading, "load_tokenizer", lambda *args, **kwargs: None)
    monkeypatch.setattr(guard_package, "PerplexityFilter", Gibberish)
    arguments = ["guard", "check", str(upload), *SERVED, "--perplexity-model", "lm", "--threshold", "0.5"]
    result = runner.invoke(app, arguments)
    assert result.exit_code == 0, result.output
    item = json.loads(result.stdout)["items"][0]
    assert item["verdict"] == "unsafe" and item["categories"] == ["perplexity"]


def test_base_url_means_the_served_model_even_when_a_local_folder_shares_its_name(upload, tmp_path, monkeypatch):
    """docs/guard.md trains into `my-guard/` and checks `--model my-guard --base-url …`: that must ask the server."""
    from tests.safety.guard.test_cli import _MarkerGenerator

    (tmp_path / "my-guard").mkdir()
    (tmp_path / "my-guard" / "classifier.json").write_text("{}")
    monkeypatch.chdir(tmp_path)
    generator = _MarkerGenerator()
    monkeypatch.setattr(guard_setup, "generator_for", lambda *args: generator)
    arguments = ["guard", "check", str(upload), "--model", "my-guard", "--base-url", "http://127.0.0.1:9/v1", "--json"]
    result = runner.invoke(app, arguments)
    assert result.exit_code == 0, result.output
    assert len(generator.prompts) == 1
