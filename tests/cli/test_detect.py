"""`headwater detect score|calibrate|evaluate` on tiny models, and the input errors."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from headwater.cli import app

runner = CliRunner()
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


def test_calibrate_then_score_then_evaluate(tmp_path, data_dir):
    common = ["--data-dir", str(data_dir), "--min-tokens", "4", "--json"]
    human = _write(tmp_path, "human.jsonl", [{"text": t} for t in HUMAN * 4])
    saved = tmp_path / "cal.json"
    result = runner.invoke(
        app, ["detect", "calibrate", str(human), "--output", str(saved), "--target-fpr", "0.1", *common]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["achieved_fpr"] <= 0.1
    texts = _write(tmp_path, "texts.jsonl", [{"id": i, "text": t} for i, t in enumerate(AI + HUMAN)])
    scored = runner.invoke(app, ["detect", "score", str(texts), "--calibration", str(saved), *common])
    assert scored.exit_code == 0, scored.output
    lines = [json.loads(line) for line in scored.stdout.splitlines()]
    assert [line["id"] for line in lines] == list(range(5)) and all("ai" in line for line in lines)
    labelled = _write(
        tmp_path,
        "labelled.jsonl",
        [{"text": t, "label": "ai", "source": "template"} for t in AI]
        + [{"text": t, "label": "human", "source": "web"} for t in HUMAN],
    )
    report = runner.invoke(app, ["detect", "evaluate", str(labelled), "--detector", "fast-detectgpt", *common])
    assert report.exit_code == 0, report.output
    assert 0.0 <= json.loads(report.stdout)["overall"]["auroc"] <= 1.0


def test_bad_files_exit_2(tmp_path, data_dir):
    binary = tmp_path / "latin1.jsonl"
    binary.write_bytes('{"text": "caf\xe9"}'.encode("latin-1"))
    result = runner.invoke(app, ["detect", "score", str(binary), "--data-dir", str(data_dir)])
    assert result.exit_code == 2 and "UTF-8" in result.output
    short = _write(tmp_path, "short.jsonl", [{"id": "s", "text": "hi"}, {"id": "long", "text": HUMAN[0]}])
    result = runner.invoke(app, ["detect", "score", str(short), "--data-dir", str(data_dir), "--json"])
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert result.exit_code == 0  # one short text is refused with its reason; the others are still scored
    assert lines[0]["score"] is None and "minimum 16" in lines[0]["refused"]
    assert isinstance(lines[1]["score"], float) and "refused" not in lines[1]
    unlabelled = _write(tmp_path, "u.jsonl", [{"text": HUMAN[0], "label": "maybe"}])
    result = runner.invoke(app, ["detect", "evaluate", str(unlabelled), "--data-dir", str(data_dir)])
    assert result.exit_code == 2 and "'ai' or 'human'" in result.output
