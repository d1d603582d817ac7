from __future__ import annotations

import json

from typer.testing import CliRunner

from headwater.cli import app
from headwater.platform.annotation.store import Annotation, AnnotationStore
from headwater.platform.store import Store

runner = CliRunner()


def _load(tmp_path, lines: list[str], *annotators: str):
    articles = tmp_path / "articles.jsonl"
    articles.write_text("\n".join(lines) + "\n")
    args = ["detect", "annotate", "load", str(articles), "--set", "s1", "--data-dir", str(tmp_path), "--json"]
    return runner.invoke(app, args + [a for name in annotators for a in ("--annotator", name)])


def test_load_gives_new_annotators_a_working_key_once(tmp_path):
    result = _load(tmp_path, ['{"id": "a1", "text": "One.", "label": "ai"}'], "alice", "alice")
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert (body["set"], body["articles"], list(body["keys"])) == ("s1", 1, ["alice"])
    store = Store(f"sqlite:///{tmp_path / 'headwater.db'}")
    assert store.tenant_for_key(body["keys"]["alice"]) == "alice"
    store.engine.dispose()
    again = runner.invoke(
        app,
        ["detect", "annotate", "load", str(tmp_path / "articles.jsonl"), "--set", "s1", "--data-dir", str(tmp_path)],
    )
    assert again.exit_code == 2 and "already exists" in again.output


def test_a_bad_line_is_named_and_nothing_is_loaded(tmp_path):
    result = _load(tmp_path, ['{"id": "a1", "text": "One."}', '{"id": "a2", "text": "Two.", "label": "robot"}'], "bob")
    assert result.exit_code == 2
    assert "line 2: label" in result.output
    status = runner.invoke(app, ["detect", "annotate", "status", "s1", "--data-dir", str(tmp_path), "--json"])
    assert status.exit_code == 2 and "no annotation set 's1'" in status.output


def test_status_and_export(tmp_path):
    _load(tmp_path, ['{"id": "a1", "text": "One two.", "label": "ai"}'], "alice")
    store = Store(f"sqlite:///{tmp_path / 'headwater.db'}")
    annotations = AnnotationStore(store.engine)
    annotations.submit("alice", annotations.next_article("alice")[0], Annotation("human", 2, (), "plain"))
    store.engine.dispose()
    status = runner.invoke(app, ["detect", "annotate", "status", "s1", "--data-dir", str(tmp_path), "--json"])
    summary = json.loads(status.stdout)
    assert summary["annotators"][0]["tpr"] == 0.0 and summary["articles"][0]["majority"] == "human"
    out = tmp_path / "export.jsonl"
    exported = runner.invoke(
        app, ["detect", "annotate", "export", "s1", "--output", str(out), "--data-dir", str(tmp_path), "--json"]
    )
    assert json.loads(exported.stdout) == {"output": str(out), "annotations": 1}
    assert json.loads(out.read_text())["explanation"] == "plain"


def test_detector_scores_join_the_articles_by_id(tmp_path):
    scored = tmp_path / "fdg.jsonl"
    refused = '{"id": "a1", "score": null, "refused": "too short"}'  # skipped: no score to show
    scored.write_text('{"id": "a1", "score": 2.5, "higher_is_ai": true}\n' + refused + "\n")
    articles = tmp_path / "articles.jsonl"
    articles.write_text('{"id": "a1", "text": "One two.", "scores": {"binoculars": 0.8}}\n')
    base = ["detect", "annotate", "load", str(articles), "--data-dir", str(tmp_path), "--json"]
    wrong = tmp_path / "wrong.jsonl"
    wrong.write_text('{"id": "zz", "score": 1.0}\n')
    bad = runner.invoke(app, [*base, "--set", "s0", "--scores", f"fdg={wrong}"])
    assert bad.exit_code == 2 and "line 1" in bad.output
    assert runner.invoke(app, [*base, "--set", "s1", "--scores", f"fdg={scored}"]).exit_code == 0
    status = runner.invoke(app, ["detect", "annotate", "status", "s1", "--data-dir", str(tmp_path), "--json"])
    assert json.loads(status.stdout)["articles"][0]["scores"] == {"binoculars": 0.8, "fdg": 2.5}
