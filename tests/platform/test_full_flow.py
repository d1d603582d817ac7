"""The whole chain on one platform, offline, on tiny models: the one test where every piece meets (each piece has
its own tests beside it, which check its details and refusals).

Issue 21's flow: upload → a CFT fine-tune job → its moderation report → training → the judge's evaluation → the new
`ft:` model answers; a TAID distillation job tiny-teacher → the served tiny model, created and followed live with
`headwater finetune create --follow`; a batch of 50 lines through `client.batches`. Issue 22's flow, as
examples/platform_flow.py runs it (the code docs/platform.md shows): moderate a dataset, fine-tune, judge before and
after, red-team the new model, check its text with a calibrated detector, read the footprint. The three run at once,
as a team's would. The platform killed mid-training and its resume: tests/platform/test_job_durability.py.
"""

from __future__ import annotations

import json
import runpy
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from headwater.detect import DetectorConfig, calibrate_detector
from headwater.platform.jobs.finetune import trained_conversation
from headwater.safety.guard import train_classifier
from tests.conftest import RunningServer, start_server
from tests.detect.clue_paragraphs import HUMAN

openai = pytest.importorskip("openai")

EXAMPLE = Path(__file__).parents[2] / "examples" / "platform_flow.py"
MARKER = "zorblax"
"""What the test's guard flags: a made-up word, so the guard's verdicts are known."""


def critique(a: int, b: int, marked: bool = False) -> dict[str, str]:
    """A critique line (`headwater cft build-data`'s format) of an answer to a + b, right for even a."""
    verdict = "wrong" if a % 2 else "right"
    question = f"What is {a} + {b}?" + (f" {MARKER}" if marked else "")
    return {
        "question": question,
        "response": str(a + b + a % 2),
        "critique": f"{a} + {b} = {a + b}. Conclusion: {verdict} [END]",
    }


def chat_line(a: int, marked: bool = False) -> dict[str, list[dict[str, str]]]:
    question = f"What is {a}+{a}?" + (f" {MARKER}" if marked else "")
    return {"messages": [{"role": "user", "content": question}, {"role": "assistant", "content": str(2 * a)}]}


def as_text(row: dict[str, str]) -> str:
    """A critique line as examples/platform_flow.py sends it to /v1/moderations."""
    return f"{row['question']}\n{row['response']}\n{row['critique']}"


def marker_guard(folder: Path, data_dir: Path) -> Path:
    """A classifier guard (tiny-chat embeddings + logistic regression) that flags the marker, trained on the three
    forms it meets here: a critique as text (the example's moderation call), as the conversation a CFT job trains
    on (its moderate stage), and a chat line (the distillation job's)."""
    items: list = []
    labels: list[int] = []
    for marked in (False, True):
        for a in range(20, 32):
            for b in (1, 4, 7):
                row = critique(a, b, marked)
                items += [as_text(row), trained_conversation(row, 1, "cft")]
                labels += [int(marked)] * 2
            items.append(chat_line(a + 10, marked)["messages"])
            labels.append(int(marked))
    return train_classifier(items, labels, "tiny-chat", data_dir, categories=["marker"]).save(folder)


@pytest.fixture(scope="module")
def flow_server(tmp_path_factory, data_dir, saved_tiny_model) -> Iterator[RunningServer]:
    guard = marker_guard(tmp_path_factory.mktemp("guard") / "marker", data_dir)
    env = {
        "HEADWATER_POOL_SIZE": "0",
        "HEADWATER_MODERATION_GUARD": str(guard),
        "HEADWATER_EVAL_JUDGE": "tiny-local",
        "HEADWATER_EVAL_MAX_ITEMS": "1",
    }
    running = start_server(saved_tiny_model, tmp_path_factory.mktemp("flow"), "tiny-local", env)
    yield running
    running.stop()


def start_taid_job(server: RunningServer, folder: Path) -> subprocess.Popen[str]:
    """`headwater finetune create --method distill … --follow --json` in the background: the CLI uploads the file,
    creates the job, shows it live on stderr and prints the finished job on stdout."""
    chats = folder / "chats.jsonl"
    chats.write_text("".join(json.dumps(chat_line(a)) + "\n" for a in range(16)))
    command = [
        *(sys.executable, "-m", "headwater", "finetune", "create", "--model", "tiny-local", "--file", str(chats)),
        *("--method", "distill", "--teacher", "tiny-teacher", "--loss", "taid", "--suffix", "taid"),
        *("--epochs", "1", "--batch-size", "8", "--follow", "--json"),
        *("--base-url", server.base_url, "--api-key", server.api_key),
    ]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def start_batch(client) -> str:
    """A batch of 50 chat requests through the official client."""
    lines = [
        {
            "custom_id": f"q{i:02d}",
            "method": "POST",
            "url": "/v1/chat/completions",
            "body": {
                "model": "tiny-local",
                "messages": [{"role": "user", "content": f"Count to {i}."}],
                "max_tokens": 3,
            },
        }
        for i in range(50)
    ]
    upload = client.files.create(
        file=("questions.jsonl", "".join(json.dumps(x) + "\n" for x in lines)), purpose="batch"
    )
    return client.batches.create(input_file_id=upload.id, endpoint="/v1/chat/completions", completion_window="24h").id


def run_example(server: RunningServer, folder: Path, data_dir: Path, monkeypatch) -> dict:
    """examples/platform_flow.py against the server, in this process so its objects can be checked."""
    critiques = [critique(a, b) for a in range(2, 7) for b in (3, 8)]
    critiques[3:3] = [critique(3, 5, marked=True)]
    critiques.append(critique(9, 9, marked=True))
    (folder / "critiques.jsonl").write_text("".join(json.dumps(row) + "\n" for row in critiques))
    tiny = {"observer": "tiny-chat", "performer": "tiny-teacher", "min_tokens": 4, "max_tokens": 64}
    config = DetectorConfig("binoculars", data_dir=data_dir, **tiny)  # type: ignore[arg-type]
    calibrate_detector(config, HUMAN[:10], target_fpr=0.1).save(folder / "essays.json")
    monkeypatch.setenv("HEADWATER_BASE_URL", server.base_url)
    monkeypatch.setenv("HEADWATER_API_KEY", server.api_key)
    monkeypatch.setattr(sys, "argv", [str(EXAMPLE), str(folder / "critiques.jsonl"), str(folder / "essays.json")])
    return runpy.run_path(str(EXAMPLE), run_name="__main__")


def messages_of(client, job_id: str) -> list[str]:
    return [event.message for event in client.fine_tuning.jobs.list_events(job_id, limit=1000).data]


def check_cft_chain(client, flow: dict) -> None:
    """Upload → moderation report → training → evaluation → the ft: model answers."""
    job = flow["job"]
    assert job.status == "succeeded", job.error
    assert job.fine_tuned_model == f"ft:tiny-local:critic:{job.id.removeprefix('ftjob-')[:8]}"
    assert len(flow["kept"]) == 10 and not any(MARKER in row["question"] for row in flow["kept"])
    moderation = flow["result"]["moderation"]
    assert (moderation["total"], moderation["flagged"]) == (10, 0)
    report = json.loads(client.files.content(moderation["report_file"]).text)
    assert [item["verdict"] for item in report["items"]] == ["safe"] * 10
    messages = messages_of(client, job.id)
    order = [
        next(i for i, m in enumerate(messages[::-1]) if m.startswith(start))
        for start in ("moderating the training file with", "critique fine-tuning on 9 examples", "registered ft:")
    ]
    assert order == sorted(order)  # moderate → train (one example held out for the judge) → register
    evaluation = flow["evaluation"]
    assert (evaluation["judge"], evaluation["split"], evaluation["examples"]) == ("tiny-local", "held_out", 1)
    assert (evaluation["before"]["model"], evaluation["after"]["model"]) == ("tiny-local", job.fine_tuned_model)
    assert evaluation["report_file"] in job.result_files and any(
        m.startswith("evaluation: mean score") for m in messages
    )
    assert list(flow["verdicts"]) == ["tiny-local", job.fine_tuned_model]  # judged before and after
    assert all({"verdict", "reasoning", "parse_error"} <= verdict.keys() for verdict in flow["verdicts"].values())


def check_services(flow: dict) -> None:
    """The red-team run, the detection and the footprint of issue 22's flow."""
    run, new_model = flow["run"], flow["job"].fine_tuned_model
    assert run["status"] == "succeeded", run["error"]
    assert [stage["status"] for stage in run["stages"]] == ["succeeded"] * 4
    assert flow["report"]["total"] == sum(flow["report"]["by_outcome"].values()) > 0
    assert flow["queue"]["counts"]["pending"] == len(flow["queue"]["data"])
    detection = flow["detection"]
    assert (detection["detector"], detection["kind"], detection["target_fpr"]) == ("essays", "binoculars", 0.1)
    assert detection["decision"] in ("ai", "human") or detection["refused"]
    # the new model's chats and the red-team's tests and target outputs are all accounted to this tenant
    assert flow["per_model"][new_model] >= 3 and flow["per_model"]["tiny-local"] >= 3


def check_taid_job(client, taid: subprocess.Popen[str]) -> None:
    stdout, stderr = taid.communicate(timeout=600)
    assert taid.returncode == 0, stderr[-3000:]
    job = json.loads(stdout)
    assert job["status"] == "succeeded" and job["fine_tuned_model"].startswith("ft:tiny-local:taid:")
    assert job["method"]["distill"]["teacher"] == "tiny-teacher" and job["method"]["distill"]["loss"] == "taid"
    events = client.fine_tuning.jobs.list_events(job["id"], limit=1000).data
    assert "distilling tiny-teacher with taid on 15 examples" in [e.message for e in events]  # one held out
    assert any(e.data and 0 < e.data.get("taid_t", 0) < 1 for e in events)
    assert "moderation: 0 of 16 examples flagged (0.0%)" in [e.message for e in events]
    reply = client.chat.completions.create(
        model=job["fine_tuned_model"], messages=[{"role": "user", "content": "What is 2+2?"}], max_tokens=4
    )
    assert reply.model == job["fine_tuned_model"] and reply.usage.completion_tokens > 0


def check_batch(client, batch_id: str) -> None:
    deadline = time.monotonic() + 300
    while (batch := client.batches.retrieve(batch_id)).status not in ("completed", "failed", "cancelled"):
        assert time.monotonic() < deadline, f"still {batch.status}"
        time.sleep(0.5)
    assert batch.status == "completed" and batch.request_counts.completed == 50 and batch.request_counts.failed == 0
    output = [json.loads(line) for line in client.files.content(batch.output_file_id).text.splitlines()]
    assert [line["custom_id"] for line in output] == [f"q{i:02d}" for i in range(50)]
    assert all(line["response"]["status_code"] == 200 for line in output)


def test_the_whole_flow_on_one_platform(flow_server, tmp_path, data_dir, monkeypatch, capsys):
    client = openai.OpenAI(base_url=flow_server.base_url, api_key=flow_server.api_key, max_retries=0, timeout=300)
    taid = start_taid_job(flow_server, tmp_path)
    try:
        batch_id = start_batch(client)
        flow = run_example(flow_server, tmp_path, data_dir, monkeypatch)
        printed = capsys.readouterr().out
        assert "moderation: 2 of 12 flagged\n" in printed and "fine-tune: succeeded ft:tiny-local:critic:" in printed
        check_cft_chain(client, flow)
        check_services(flow)
        check_batch(client, batch_id)
        check_taid_job(client, taid)
    finally:
        if taid.poll() is None:
            taid.kill()
    from typer.testing import CliRunner

    from headwater.cli import app

    where = ["--base-url", flow_server.base_url, "--api-key", flow_server.api_key]
    listed = CliRunner().invoke(app, ["jobs", "list", "--json", *where])
    assert listed.exit_code == 0, listed.output
    jobs = json.loads(listed.stdout)["data"]
    assert {"finetune", "batch", "redteam"} <= {job["kind"] for job in jobs}
    assert all(job["state"] == "succeeded" for job in jobs)
