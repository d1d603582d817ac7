"""Durable fine-tuning jobs on a real `headwater serve`: a platform SIGKILLed mid-training resumes the job from its
last recorded Trainer checkpoint on restart (never stuck `running`), and a cancelled job's worker stops within
seconds while its last checkpoints stay on disk (HEADWATER_CHECKPOINTS_KEPT, 3 by default: older ones are deleted,
and listed with their `deleted_at`)."""

from __future__ import annotations

import json
import os
import signal
import time

import httpx
import pytest

from tests.conftest import RunningServer, start_server

openai = pytest.importorskip("openai")

EXAMPLES = [
    {"messages": [{"role": "user", "content": f"What is {a}+{a}?"}, {"role": "assistant", "content": str(2 * a)}]}
    for a in range(16)
]
ENV = {"HEADWATER_POOL_SIZE": "0", "HEADWATER_CHECKPOINT_INTERVAL_S": "0"}
"""A checkpoint at every step, so the kill lands after one whatever the machine's speed."""
FINISHED = ("succeeded", "failed", "cancelled")


def _client(server: RunningServer):
    return openai.OpenAI(base_url=server.base_url, api_key=server.api_key, max_retries=0, timeout=120)


def _long_job(client, epochs: int) -> str:
    data = "\n".join(json.dumps(example) for example in EXAMPLES).encode()
    upload = client.files.create(file=("train.jsonl", data), purpose="fine-tune")
    method = {"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": epochs, "batch_size": 4}}}
    return client.fine_tuning.jobs.create(model="tiny-local", training_file=upload.id, method=method).id


def _wait_for_checkpoint(client, job_id: str, count: int = 1) -> None:
    deadline = time.monotonic() + 300
    while len(client.fine_tuning.jobs.checkpoints.list(job_id).data) < count:
        assert time.monotonic() < deadline, "no checkpoint was ever recorded"
        assert client.fine_tuning.jobs.retrieve(job_id).status in ("queued", "running")
        time.sleep(0.2)


def _finish(client, job_id: str, within_s: float = 400):
    deadline = time.monotonic() + within_s
    while (job := client.fine_tuning.jobs.retrieve(job_id)).status not in FINISHED:
        assert time.monotonic() < deadline, f"still {job.status}"
        time.sleep(0.3)
    return job


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_a_killed_platform_resumes_training_from_the_last_checkpoint(tmp_path, saved_tiny_model):
    server = start_server(saved_tiny_model, tmp_path, "tiny-local", ENV)
    try:
        client = _client(server)
        job_id = _long_job(client, epochs=6)  # 24 steps: the kill lands mid-training
        _wait_for_checkpoint(client, job_id)
        os.kill(server.process.pid, signal.SIGKILL)  # no shutdown at all: the job row stays `running`
        server.process.wait(timeout=10)
    finally:
        server.stop()
    server = start_server(saved_tiny_model, tmp_path, "tiny-local", ENV)
    try:
        client = _client(server)
        job = _finish(client, job_id)
        assert job.status == "succeeded", job.error
        messages = [e.message for e in client.fine_tuning.jobs.list_events(job_id, limit=1000).data][::-1]
        assert "requeued after a restart of the platform" in messages
        [resumed] = [m for m in messages if m.startswith("resumed from checkpoint at step ")]
        killed = messages[: messages.index(resumed)]
        last_recorded = max(int(m.removeprefix("checkpoint at step ")) for m in killed if m.startswith("checkpoint at"))
        assert resumed == f"resumed from checkpoint at step {last_recorded}"  # the last one recorded before the kill
        later = [_step(m) for m in messages[messages.index(resumed) + 1 :] if m.startswith("step ")]
        assert later[0] == (last_recorded + 1, 24)  # it went on from there, within the same 24-step budget
        assert later[-1] == (24, 24)
        reply = client.chat.completions.create(
            model=job.fine_tuned_model, messages=[{"role": "user", "content": "1+1?"}], max_tokens=2
        )
        assert reply.usage.completion_tokens > 0
    finally:
        server.stop()


def _step(message: str) -> tuple[int, int]:
    """`step N/T: training loss …` → (N, T)."""
    done, total = message.removeprefix("step ").split(":", 1)[0].split("/")
    return int(done), int(total)


def test_cancel_stops_the_worker_within_seconds_and_keeps_the_checkpoints(tmp_path, saved_tiny_model):
    server = start_server(saved_tiny_model, tmp_path, "tiny-local", ENV)
    try:
        client = _client(server)
        job_id = _long_job(client, epochs=200)
        _wait_for_checkpoint(client, job_id, count=5)  # enough for the rotation to have deleted some
        headers = {"Authorization": f"Bearer {server.api_key}"}
        cancelled = httpx.post(f"{server.base_url}/jobs/{job_id}/cancel", headers=headers, timeout=30).json()
        assert cancelled["id"] == job_id and cancelled["cancel_requested_at"] is not None
        job = _finish(client, job_id, within_s=30)  # terminate, then kill after the 5 s grace
        assert job.status == "cancelled"
        checkpoints = list(client.fine_tuning.jobs.checkpoints.list(job_id, limit=100))  # every page
        assert len(checkpoints) >= 5  # every checkpoint recorded stays listed
        folders = {folder.name for folder in (tmp_path / "jobs" / job_id / "train").glob("checkpoint-*")}
        kept = {f"checkpoint-{c.step_number}" for c in checkpoints if c.to_dict().get("deleted_at") is None}
        deleted = {f"checkpoint-{c.step_number}" for c in checkpoints if c.to_dict().get("deleted_at") is not None}
        assert len(kept) == 3 and kept <= folders and deleted and not deleted & folders
        folder = tmp_path / "jobs" / job_id / "train"
        assert all((folder / name / "trainer_state.json").is_file() for name in kept)
        messages = [e.message for e in client.fine_tuning.jobs.list_events(job_id, limit=1000).data]
        assert "cancel requested" in messages and not any("succeeded" in m for m in messages)
    finally:
        server.stop()
