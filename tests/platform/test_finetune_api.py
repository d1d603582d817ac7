"""Fine-tuning through the official `openai` client: a supervised job on a tiny model trains in a worker process,
reports its loss as events and a checkpoint, and its model answers chat at once; bad requests write nothing."""

from __future__ import annotations

import json
import time

import pytest

from tests.conftest import start_server
from tests.platform.test_files_api import client_for

openai = pytest.importorskip("openai")

EXAMPLES = [
    {"messages": [{"role": "user", "content": f"What is {a}+{a}?"}, {"role": "assistant", "content": str(2 * a)}]}
    for a in range(16)
]


@pytest.fixture(scope="module")
def ft_server(tmp_path_factory, saved_tiny_model):
    server = start_server(saved_tiny_model, tmp_path_factory.mktemp("ft"), "tiny-local", {"HEADWATER_POOL_SIZE": "0"})
    yield server
    server.stop()


@pytest.fixture(scope="module")
def client(ft_server):
    return openai.OpenAI(base_url=ft_server.base_url, api_key=ft_server.api_key, max_retries=0, timeout=120)


@pytest.fixture(scope="module")
def training_file(client) -> str:
    data = "\n".join(json.dumps(example) for example in EXAMPLES).encode()
    return client.files.create(file=("train.jsonl", data), purpose="fine-tune").id


def test_supervised_job_trains_and_its_model_answers(client, training_file, ft_server):
    hyper = {"n_epochs": 1, "batch_size": 8, "learning_rate_multiplier": 10}
    job = client.fine_tuning.jobs.create(
        model="tiny-local",
        training_file=training_file,
        suffix="sums",
        seed=3,
        method={"type": "supervised", "supervised": {"hyperparameters": hyper}},
    )
    assert job.status == "queued" and job.hyperparameters.n_epochs == 1
    deadline = time.monotonic() + 400
    while (job := client.fine_tuning.jobs.retrieve(job.id)).status not in ("succeeded", "failed", "cancelled"):
        assert time.monotonic() < deadline, f"still {job.status}"
        time.sleep(0.5)
    assert job.status == "succeeded", job.error
    assert job.fine_tuned_model == f"ft:tiny-local:sums:{job.id.removeprefix('ftjob-')[:8]}"
    messages = [e.message for e in client.fine_tuning.jobs.list_events(job.id, limit=100).data]
    assert any("training loss" in m for m in messages) and "succeeded" in messages
    assert any(m.startswith("moderation skipped: no guard configured") for m in messages)
    assert "evaluation skipped: no judge configured (HEADWATER_EVAL_JUDGE)" in messages
    assert job.to_dict()["result"]["evaluation"].startswith("skipped") and job.hyperparameters.lora is False
    [checkpoint] = client.fine_tuning.jobs.checkpoints.list(job.id).data
    assert checkpoint.step_number == 1 and checkpoint.metrics.train_loss > 0
    answer = client.chat.completions.create(
        model=job.fine_tuned_model, messages=[{"role": "user", "content": "What is 2+2?"}], max_tokens=4
    )
    assert answer.model == job.fine_tuned_model and answer.usage.completion_tokens > 0
    assert job.id in [j.id for j in client.fine_tuning.jobs.list().data]
    other = client_for(ft_server, "other-ft")
    for call in (other.fine_tuning.jobs.retrieve, other.fine_tuning.jobs.cancel, other.fine_tuning.jobs.list_events):
        with pytest.raises(openai.NotFoundError):
            call(job.id)


def test_bad_fine_tune_requests_name_the_field_and_write_nothing(client, training_file):
    before = [j.id for j in client.fine_tuning.jobs.list(limit=100).data]
    with pytest.raises(openai.NotFoundError) as caught:
        client.fine_tuning.jobs.create(model="no-such-model", training_file=training_file)
    assert caught.value.body["param"] == "model"
    with pytest.raises(openai.NotFoundError):
        client.fine_tuning.jobs.create(model="tiny-local", training_file="file-" + "0" * 32)
    with pytest.raises(openai.BadRequestError) as caught:
        client.fine_tuning.jobs.create(
            model="tiny-local", training_file=training_file, method={"type": "reinforcement"}
        )
    assert caught.value.body["param"] == "method.type"
    bad_hyper = {"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 0}}}
    with pytest.raises(openai.BadRequestError) as caught:
        client.fine_tuning.jobs.create(model="tiny-local", training_file=training_file, method=bad_hyper)
    assert caught.value.body["param"] == "method.supervised.hyperparameters.n_epochs"
    batch_file = client.files.create(
        file=("b.jsonl", b'{"custom_id": "a", "url": "/v1/completions", "body": {"model": "m"}}\n'), purpose="batch"
    )
    with pytest.raises(openai.BadRequestError, match="purpose 'fine-tune'"):
        client.fine_tuning.jobs.create(model="tiny-local", training_file=batch_file.id)
    assert [j.id for j in client.fine_tuning.jobs.list(limit=100).data] == before


def test_the_cli_mirrors_the_api(ft_server, client, training_file):
    from typer.testing import CliRunner

    from headwater.cli import app

    where = ["--base-url", ft_server.base_url, "--api-key", ft_server.api_key]
    runner = CliRunner()
    listed = runner.invoke(app, ["finetune", "list", "--json", *where])
    assert listed.exit_code == 0, listed.output
    jobs = json.loads(listed.stdout)["data"]
    assert jobs and jobs[0]["status"] == "succeeded"
    events = runner.invoke(app, ["finetune", "events", jobs[0]["id"], "--json", *where])
    assert any("training loss" in json.loads(line)["message"] for line in events.stdout.splitlines())
    refused = runner.invoke(app, ["finetune", "create", "--model", "nope", "--training-file", training_file, *where])
    assert refused.exit_code == 2 and "[field: model]" in refused.output


def _finish(client, job):
    deadline = time.monotonic() + 400
    while (job := client.fine_tuning.jobs.retrieve(job.id)).status not in ("succeeded", "failed", "cancelled"):
        assert time.monotonic() < deadline, f"still {job.status}"
        time.sleep(0.5)
    return job


def test_a_taid_distillation_job_from_tiny_teacher_gives_a_model_that_answers(client, training_file):
    hyper = {"n_epochs": 1, "batch_size": 8}
    method = {"type": "distill", "distill": {"teacher": "tiny-teacher", "loss": "taid", "hyperparameters": hyper}}
    job = client.fine_tuning.jobs.create(model="tiny-local", training_file=training_file, suffix="taid", method=method)
    assert job.to_dict()["method"] == {
        "type": "distill",
        "distill": {
            "teacher": "tiny-teacher",
            "loss": "taid",
            "hyperparameters": {**hyper, "learning_rate_multiplier": 1.0},
        },
    }
    job = _finish(client, job)
    assert job.status == "succeeded", job.error
    assert job.fine_tuned_model == f"ft:tiny-local:taid:{job.id.removeprefix('ftjob-')[:8]}"
    events = client.fine_tuning.jobs.list_events(job.id, limit=100).data
    assert any(e.message == "distilling tiny-teacher with taid on 16 examples" for e in events)
    losses = [e for e in events if e.message.startswith("step ")]
    assert sorted(e.data["step"] for e in losses) == [1, 2]  # 16 examples, 8 a step: each step, the last included
    assert all(e.type == "metrics" and e.data["train_loss"] > 0 and 0.4 <= e.data["taid_t"] < 1 for e in losses)
    checkpoints = client.fine_tuning.jobs.checkpoints.list(job.id).data  # the trainer's (resumable) and the final
    assert sorted(c.step_number for c in checkpoints) == [1, 2]
    assert all(c.metrics.train_loss > 0 for c in checkpoints)
    answer = client.chat.completions.create(
        model=job.fine_tuned_model, messages=[{"role": "user", "content": "What is 2+2?"}], max_tokens=4
    )
    assert answer.model == job.fine_tuned_model and answer.usage.completion_tokens > 0


@pytest.mark.parametrize(
    ("distill", "error", "param"),
    [
        ({"loss": "taid"}, "BadRequestError", "method.distill.teacher"),
        ({"teacher": "no-such-teacher"}, "NotFoundError", "method.distill.teacher"),
        ({"teacher": "tiny-teacher", "loss": "forward_kl"}, "BadRequestError", "method.distill.loss"),
        ({"teacher": "tiny-teacher", "temperature": 2}, "BadRequestError", "method.distill.temperature"),
        (
            {"teacher": "tiny-teacher", "hyperparameters": {"epochs": 1}},
            "BadRequestError",
            "method.distill.hyperparameters.epochs",
        ),
    ],
)
def test_a_refused_distill_job_names_its_field_and_writes_nothing(client, training_file, distill, error, param):
    before = [j.id for j in client.fine_tuning.jobs.list(limit=100).data]
    with pytest.raises(getattr(openai, error)) as caught:
        client.fine_tuning.jobs.create(
            model="tiny-local", training_file=training_file, method={"type": "distill", "distill": distill}
        )
    assert caught.value.body["param"] == param
    assert [j.id for j in client.fine_tuning.jobs.list(limit=100).data] == before


CRITIQUES = [
    {
        "question": f"What is {a}+{a}?",
        "response": str(2 * a + a % 2),
        "critique": f"The sum is {2 * a}. Conclusion: {'wrong' if a % 2 else 'right'} [END]",
    }
    for a in range(8)
]


def test_a_refused_cft_job_names_its_field_and_writes_nothing(client, training_file):
    before = [j.id for j in client.fine_tuning.jobs.list(limit=100).data]
    with pytest.raises(openai.BadRequestError) as caught:  # a chat file has no critiques
        client.fine_tuning.jobs.create(model="tiny-local", training_file=training_file, method={"type": "cft"})
    assert caught.value.body["param"] == "training_file" and "line 1" in caught.value.body["message"]
    upload = client.files.create(file=("c.jsonl", json.dumps(CRITIQUES[0]).encode()), purpose="fine-tune")
    with pytest.raises(openai.BadRequestError) as caught:
        client.fine_tuning.jobs.create(
            model="tiny-local", training_file=upload.id, method={"type": "cft", "cft": {"select_by": "judge"}}
        )
    assert caught.value.body["param"] == "method.cft.select_by"
    assert [j.id for j in client.fine_tuning.jobs.list(limit=100).data] == before
