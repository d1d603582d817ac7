"""A judge job started from the dashboard, end to end in real headless Chromium against the real server: log in,
pick the served judge model, upload an evals file in the form, start the job, watch its progress and events until it
succeeds, open its bench report in the page; then a footprint report job's HTML in a sandboxed frame. A screenshot
of each page is saved and checked to be non-blank."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.platform.web.test_browser import WAIT_MS, screenshot

pytestmark = pytest.mark.chromium
ITEMS = [
    {"instruction": "Is 2 + 2 = 4?", "response": "Yes.", "criteria": "Is the response correct?", "label": "Yes"},
    {"instruction": "Name a colour.", "response": "Seven.", "criteria": "Is the response a colour?", "label": "No"},
    {"instruction": "Say hi.", "response": "Hi!", "criteria": "Is the response a greeting?", "label": "Yes"},
]


def judgement_jobs(server) -> list[str]:
    headers = {"Authorization": f"Bearer {server.api_key}"}
    reply = httpx.get(f"{server.base_url}/jobs", params={"kind": "judge", "limit": 100}, headers=headers)
    return [job["id"] for job in reply.json()["data"]]


def test_a_judge_job_started_from_the_dashboard(browser, server, tmp_path):
    page = browser.new_context().new_page()
    page.set_default_timeout(WAIT_MS)
    page.goto(server.base_url.removesuffix("/v1") + "/")
    page.fill("#key", server.api_key)
    page.click("#login")
    page.wait_for_selector(f"#models tbody tr:has-text('{server.model}')")
    screenshot(page, tmp_path / "models.png")

    page.click("nav a[data-page=jobs]")
    page.wait_for_selector(f"#judge-model option[value='{server.model}']", state="attached")
    page.select_option("#judge-kind", "classification")
    page.fill("#judge-items", "not json")
    jobs_before = judgement_jobs(server)  # the server is the session's: other tests' jobs are there too
    page.click("#judge-start")
    page.wait_for_selector("#error:has-text('line 1')")  # a bad line is refused, naming it, and nothing starts
    assert judgement_jobs(server) == jobs_before

    page.fill("#judge-items", "")
    page.fill("#judge-max-tokens", "16")
    data = "".join(json.dumps(item) + "\n" for item in ITEMS).encode()
    page.set_input_files("#judge-file", files=[{"name": "items.jsonl", "mimeType": "text/plain", "buffer": data}])
    screenshot(page, tmp_path / "judge-form.png")
    page.click("#judge-start")
    page.wait_for_selector("#job-title:has-text('judge job')")
    job_id = page.text_content("#job-title").split()[-1]
    page.wait_for_selector(f"#jobs tbody tr[data-id='{job_id}']")
    page.wait_for_selector("#job-state.state-succeeded")  # the page polls: progress and events arrive live
    assert page.get_attribute("#job-progress", "value") == "1"
    assert "100 %" in page.text_content(f"#jobs tbody tr[data-id='{job_id}']")
    events = page.text_content("#job-events")
    assert "judge job created" in events and "judge calls done" in events
    assert json.loads(page.text_content("#job-result"))["items"] == 3
    screenshot(page, tmp_path / "job.png")

    page.click("#job-files button.open-file[data-role=report]")
    page.wait_for_selector("#report-text:has-text('parse_failure_rate')")
    report = json.loads(page.text_content("#report-text"))
    assert report["kind"] == "classification" and report["items"] == 3 and report["model"] == server.model
    screenshot(page, tmp_path / "report.png")

    # an HTML report (a footprint report job) opens in a sandboxed frame of the page
    headers = {"Authorization": f"Bearer {server.api_key}"}
    created = httpx.post(f"{server.base_url}/footprint/reports", json={}, headers=headers, timeout=30)
    assert created.status_code == 200, created.text
    report_id = created.json()["id"]
    page.click(f"#jobs tbody tr[data-id='{report_id}']")
    page.wait_for_selector(f"#job-title:has-text('{report_id}')")
    page.wait_for_selector("#job-files button.open-file[data-role=report]")
    assert page.is_hidden("#report")  # the judge report closed with its job
    page.click("#job-files button.open-file[data-role=report]")
    page.wait_for_selector("#report-frame", state="visible")
    assert page.get_attribute("#report-frame", "sandbox") == ""  # no scripts, no origin of ours
    assert page.frame_locator("#report-frame").locator("h1").text_content() == "AI portfolio footprint"
    screenshot(page, tmp_path / "footprint-report.png")
    print(f"judge job screenshots in {tmp_path}")
