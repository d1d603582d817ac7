"""The annotation flow end to end in real headless Chromium: an annotator logs in with her key, highlights a
passage, labels and explains three articles; the admin then sees the votes, kappa and detector scores."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

import httpx
import pytest
from typer.testing import CliRunner

from headwater.cli import app
from tests.conftest import free_port

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = pytest.mark.chromium
ARTICLES = [
    {"id": "a1", "title": "Coasts", "text": "Delve into the vibrant tapestry of coastal life.", "label": "ai",
     "source": "gpt-4o", "scores": {"binoculars": 0.71}},
    {"id": "a2", "title": "Ferry", "text": "Yeah, the ferry was late again, said Tom.", "label": "human",
     "source": "news", "scores": {"binoculars": 1.02}},
    {"id": "a3", "title": "Tides", "text": "It is crucial to note the pivotal role of tides.", "label": "ai",
     "source": "claude", "scores": {"binoculars": 0.83}},
]  # fmt: skip


@pytest.fixture(scope="module")
def annotation_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str]]]:
    data_dir = tmp_path_factory.mktemp("annotate")
    articles = data_dir / "articles.jsonl"
    articles.write_text("".join(json.dumps(a) + "\n" for a in ARTICLES))
    loaded = CliRunner().invoke(
        app,
        ["detect", "annotate", "load", str(articles), "--set", "study", "--data-dir", str(data_dir), "--json"]
        + [arg for name in ("alice", "bob", "carol") for arg in ("--annotator", name)],
    )
    assert loaded.exit_code == 0, loaded.output
    keys = json.loads(loaded.stdout)["keys"]
    port = free_port()
    log = data_dir / "serve.log"
    command = [sys.executable, "-m", "headwater", "detect", "annotate", "serve", "--port", str(port)]
    process = subprocess.Popen(
        [*command, "--data-dir", str(data_dir)], stdout=log.open("wb"), stderr=subprocess.STDOUT, env=dict(os.environ)
    )
    url = f"http://127.0.0.1:{port}/annotate"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.2)
    else:
        process.kill()
        pytest.fail(f"annotation app did not start:\n{log.read_text()[-2000:]}")
    keys["admin"] = (data_dir / "admin.key").read_text().strip()
    yield url, keys
    process.terminate()
    process.wait(timeout=20)


def select_first_word(page: Page) -> None:
    page.evaluate(
        """() => {
            const node = document.getElementById("text").firstChild;
            const range = document.createRange();
            range.setStart(node, 0);
            range.setEnd(node, node.textContent.indexOf(" "));
            const selection = window.getSelection();
            selection.removeAllRanges();
            selection.addRange(range);
        }"""
    )


def test_annotation_flow_in_headless_chromium(browser, annotation_app):
    url, keys = annotation_app
    page = browser.new_context().new_page()
    page.goto(url)
    page.fill("#key", "hw-not-a-key")
    page.click("#login")
    page.wait_for_selector("#error:has-text('invalid or revoked')")
    page.fill("#key", keys["alice"])
    page.click("#login")
    page.wait_for_selector("#progress:has-text('Article 1 of 3')")
    assert "gpt-4o" not in page.content() and "binoculars" not in page.content()  # gold and scores stay hidden
    page.click("#submit")
    assert "choose Human-written or AI-generated" in page.text_content("#error")
    for number in (1, 2, 3):
        page.wait_for_selector(f"#progress:has-text('Article {number} of 3')")
        select_first_word(page)
        page.select_option("#category", "vocabulary")
        page.click("#add-highlight")
        assert page.locator("#text mark").count() == 1 and page.locator("#highlights li").count() == 1
        page.check("#label-ai" if number != 2 else "#label-human")
        page.select_option("#confidence", "4")
        page.fill("#explanation", f"clue {number}")
        page.click("#submit")
    page.wait_for_selector("#done:not(.hidden)")

    for name in ("bob", "carol"):
        headers = {"Authorization": f"Bearer {keys[name]}"}
        while (article := httpx.get(f"{url}/api/next", headers=headers).json()["article"]) is not None:
            answer = {"article_id": article["id"], "label": "ai", "confidence": 2}
            assert httpx.post(f"{url}/api/annotations", json=answer, headers=headers).status_code == 201

    admin = browser.new_context().new_page()
    admin.goto(url)
    admin.fill("#key", keys["admin"])
    admin.click("#login")
    admin.wait_for_selector("#articles tbody tr")
    # a1, a3: 3 × ai; a2: ai, ai, human → P = (1, 1/3, 1), p = (8/9, 1/9) → κ = (7/9 − 65/81) / (16/81) = −1/8
    assert "Fleiss' kappa -0.125 over 3 articles" in admin.text_content("#kappa")
    cells = [admin.locator("#articles tbody tr").nth(i).locator("td").all_text_contents() for i in range(3)]
    columns = admin.locator("#articles thead th").all_text_contents()
    assert (columns[2], columns[6], columns[7]) == ("gold", "majority", "binoculars")
    assert [(c[0], c[2], c[6], c[7]) for c in cells] == [
        ("a1", "ai", "ai", "0.7100"),
        ("a2", "human", "ai", "1.0200"),
        ("a3", "ai", "ai", "0.8300"),
    ]
    assert "TPR 100.0 %, FPR 100.0 %" in admin.text_content("#panel")

    export = httpx.get(f"{url}/api/sets/study/export", headers={"Authorization": f"Bearer {keys['admin']}"})
    alice = [json.loads(line) for line in export.text.splitlines() if json.loads(line)["annotator"] == "alice"]
    first_words = {a["id"]: a["text"].split(" ")[0] for a in ARTICLES}
    assert sorted(row["explanation"] for row in alice) == ["clue 1", "clue 2", "clue 3"]
    for row in alice:
        assert row["highlights"] == [
            {"start": 0, "end": len(first_words[row["article"]]), "category": "vocabulary",
             "quote": first_words[row["article"]]}
        ]  # fmt: skip
