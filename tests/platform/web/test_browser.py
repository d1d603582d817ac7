"""The dashboard end to end in real headless Chromium against the real server: log in with a key, see the served
model, watch chat requests reach the requests and footprint pages, and a batch job appear, finish and offer its
output file. A screenshot of each page is saved under the test's tmp dir and checked to be non-blank."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Page

    from tests.conftest import RunningServer

pytestmark = pytest.mark.chromium
WAIT_MS = 90_000
"""How long a page may take to show what the server did (a tiny model on two busy cores)."""


def screenshot(page: Page, path: Path) -> Path:
    """Save the page and check it is not blank: a blank or one-colour image has (almost) no pixel variance."""
    page.screenshot(path=str(path), full_page=True)
    image_module = pytest.importorskip("PIL.Image")
    stat_module = pytest.importorskip("PIL.ImageStat")
    with image_module.open(path) as image:
        grey = image.convert("L")
        assert stat_module.Stat(grey).stddev[0] > 10, f"{path.name} looks blank"
        assert len(image.convert("RGB").getcolors(maxcolors=1 << 20) or ()) > 20, f"{path.name} has too few colours"
    return path


def chat(server: RunningServer, text: str) -> None:
    body = {"model": server.model, "messages": [{"role": "user", "content": text}], "max_tokens": 4}
    headers = {"Authorization": f"Bearer {server.api_key}"}
    response = httpx.post(f"{server.base_url}/chat/completions", json=body, headers=headers, timeout=120)
    assert response.status_code == 200, response.text


def start_batch(server: RunningServer) -> str:
    """A two-line chat batch through the files and batches API; returns its id."""
    headers = {"Authorization": f"Bearer {server.api_key}"}
    lines = [
        {"custom_id": f"q{n}", "method": "POST", "url": "/v1/chat/completions",
         "body": {"model": server.model, "messages": [{"role": "user", "content": f"hi {n}"}], "max_tokens": 3}}
        for n in (1, 2)
    ]  # fmt: skip
    data = "".join(json.dumps(line) + "\n" for line in lines).encode()
    upload = httpx.post(
        f"{server.base_url}/files",
        headers=headers,
        files={"file": ("lines.jsonl", data)},
        data={"purpose": "batch"},
        timeout=30,
    )
    assert upload.status_code == 200, upload.text
    body = {"input_file_id": upload.json()["id"], "endpoint": "/v1/chat/completions", "completion_window": "24h"}
    batch = httpx.post(f"{server.base_url}/batches", json=body, headers=headers, timeout=30)
    assert batch.status_code == 200, batch.text
    return batch.json()["id"]


def test_dashboard_in_headless_chromium(browser, server, tmp_path):
    home = server.base_url.removesuffix("/v1") + "/"
    page = browser.new_context().new_page()
    page.set_default_timeout(WAIT_MS)
    page.goto(home)
    page.fill("#key", "hw-not-a-key")
    page.click("#login")
    page.wait_for_selector("#error:has-text('invalid or revoked')")
    screenshot(page, tmp_path / "login.png")
    page.fill("#key", server.api_key)
    page.click("#login")
    page.wait_for_selector(f"#models tbody tr:has-text('{server.model}')")
    assert page.text_content("#who") == "tests"
    assert page.is_hidden("#admin-models")  # a tenant sees TE counts, not pids or the pool
    assert page.get_attribute("#annotate-link", "href") == "/annotate"
    screenshot(page, tmp_path / "models.png")

    for text in ("one", "two", "three"):
        chat(server, text)
    page.click("nav a[data-page=requests]")
    page.wait_for_function("document.querySelectorAll('#requests tbody tr').length >= 3")
    screenshot(page, tmp_path / "requests.png")
    page.click("nav a[data-page=footprint]")
    page.wait_for_selector(f"#chart-model svg rect.bar[data-label='{server.model}']")
    assert float(page.get_attribute("#chart-model rect.bar", "data-value")) > 0
    assert page.locator("#chart-day svg rect.bar").count() >= 1
    screenshot(page, tmp_path / "footprint.png")

    batch_id = start_batch(server)
    page.click("nav a[data-page=jobs]")
    page.click(f"#jobs tbody tr[data-id='{batch_id}']")
    page.wait_for_selector("#job-state.state-succeeded")
    assert "succeeded" in page.text_content(f"#jobs tbody tr[data-id='{batch_id}']")
    assert "batch job created" in page.text_content("#job-events")
    with page.expect_download() as download:
        page.click("#job-files a")
    output = [json.loads(line) for line in Path(download.value.path()).read_text().splitlines()]
    assert sorted(line["custom_id"] for line in output) == ["q1", "q2"]
    screenshot(page, tmp_path / "jobs.png")
    print(f"dashboard screenshots in {tmp_path}")
