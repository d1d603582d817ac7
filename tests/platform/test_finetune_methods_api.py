"""The `dpo` method, LoRA and the evaluate stage through the official `openai` client, on a server whose evaluate
stage is judged by its own served tiny model (HEADWATER_EVAL_JUDGE): a random model's verdicts rarely parse, so
these tests check the stage's plumbing (what is judged, before vs after, events, the report file); the scoring
itself is tested with a scripted judge in tests/platform/jobs/test_finetune_methods.py."""

from __future__ import annotations

import json
import time

import pytest

from tests.conftest import start_server

openai = pytest.importorskip("openai")

CHATS = [
    {"messages": [{"role": "user", "content": f"What is {a}+{a}?"}, {"role": "assistant", "content": str(2 * a)}]}
    for a in range(16)
]
PAIRS = [
    {
        "input": {"messages": [{"role": "user", "content": f"What is {a}+{a}?"}]},
        "preferred_output": [{"role": "assistant", "content": str(2 * a)}],
        "non_preferred_output": [{"role": "assistant", "content": str(2 * a + 1)}],
    }
    for a in range(8)
]


def jsonl(lines: list[dict]) -> bytes:
    return "\n".join(json.dumps(line) for line in lines).encode()


@pytest.fixture(scope="module")
def ft_server(tmp_path_factory, saved_tiny_model):
    env = {"HEADWATER_POOL_SIZE": "0", "HEADWATER_EVAL_JUDGE": "tiny-local", "HEADWATER_EVAL_MAX_ITEMS": "2"}
    server = start_server(saved_tiny_model, tmp_path_factory.mktemp("ft-methods"), "tiny-local", env)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def client(ft_server):
    return openai.OpenAI(base_url=ft_server.base_url, api_key=ft_server.api_key, max_retries=0, timeout=120)


def upload(client, lines: list[dict], name: str = "data.jsonl") -> str:
    return client.files.create(file=(name, jsonl(lines)), purpose="fine-tune").id


def finish(client, job):
    deadline = time.monotonic() + 400
    while (job := client.fine_tuning.jobs.retrieve(job.id)).status not in ("succeeded", "failed", "cancelled"):
        assert time.monotonic() < deadline, f"still {job.status}"
        time.sleep(0.5)
    assert job.status == "succeeded", job.error
    return job


def messages_of(client, job) -> list[str]:
    return [e.message for e in client.fine_tuning.jobs.list_events(job.id, limit=1000).data]


def test_a_dpo_job_with_lora_is_evaluated_on_its_validation_file_and_answers(client):
    training, validation = upload(client, PAIRS, "pairs.jsonl"), upload(client, PAIRS[:3], "valid.jsonl")
    hyper = {"n_epochs": 1, "batch_size": 4, "beta": 0.2, "lora": {"r": 4, "alpha": 8}}
    job = client.fine_tuning.jobs.create(
        model="tiny-local",
        training_file=training,
        validation_file=validation,
        suffix="prefs",
        method={"type": "dpo", "dpo": {"hyperparameters": hyper}},
    )
    assert job.method.type == "dpo" and job.to_dict()["hyperparameters"]["lora"] == {"r": 4, "alpha": 8}
    job = finish(client, job)
    assert job.fine_tuned_model == f"ft:tiny-local:prefs:{job.id.removeprefix('ftjob-')[:8]}"
    messages = messages_of(client, job)
    assert "DPO (beta 0.2, SFT weight 1.0) on 8 preference pairs" in messages  # no slice held out: a validation file
    evaluation = job.to_dict()["result"]["evaluation"]
    assert (evaluation["judge"], evaluation["split"], evaluation["examples"]) == ("tiny-local", "validation_file", 2)
    assert evaluation["before"]["model"] == "tiny-local" and evaluation["after"]["model"] == job.fine_tuned_model
    for side in ("before", "after"):
        assert evaluation[side]["scored"] + evaluation[side]["unparsed"] == 2
    assert any(m.startswith("evaluation: mean score") for m in messages)
    assert evaluation["report_file"] in job.result_files
    report = json.loads(client.files.content(evaluation["report_file"]).text)
    assert [item["reference"] for item in report] == ["0", "2"]
    assert all(item["before"]["answer"] and item["after"]["answer"] for item in report)
    answer = client.chat.completions.create(
        model=job.fine_tuned_model, messages=[{"role": "user", "content": "What is 2+2?"}], max_tokens=4
    )
    assert answer.model == job.fine_tuned_model and answer.usage.completion_tokens > 0


def test_a_lora_supervised_job_holds_a_slice_out_and_is_judged_on_it(client):
    method = {"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 1, "batch_size": 8, "lora": True}}}
    job = finish(
        client, client.fine_tuning.jobs.create(model="tiny-local", training_file=upload(client, CHATS), method=method)
    )
    messages = messages_of(client, job)
    assert "training on 14 examples" in messages  # 16 lines, a tenth (2) held out for the evaluate stage
    evaluation = job.to_dict()["result"]["evaluation"]
    assert (evaluation["split"], evaluation["examples"]) == ("held_out", 2)
    held = job.to_dict()["hyperparameters"]
    assert held["lora"] == {"r": 16, "alpha": 32}
    report = json.loads(client.files.content(evaluation["report_file"]).text)
    references = {chat["messages"][1]["content"] for chat in CHATS}
    assert len(report) == 2 and {item["reference"] for item in report} <= references
    answer = client.chat.completions.create(
        model=job.fine_tuned_model, messages=[{"role": "user", "content": "What is 1+1?"}], max_tokens=3
    )
    assert answer.usage.completion_tokens > 0


def test_bad_dpo_and_validation_files_are_refused_naming_the_field(client):
    before = [j.id for j in client.fine_tuning.jobs.list(limit=100).data]
    chats, pairs = upload(client, CHATS[:2]), upload(client, PAIRS[:2])
    dpo = {"type": "dpo"}
    with pytest.raises(openai.BadRequestError) as caught:
        client.fine_tuning.jobs.create(model="tiny-local", training_file=chats, method=dpo)
    assert caught.value.body["param"] == "training_file" and "line 1" in caught.value.body["message"]
    with pytest.raises(openai.BadRequestError) as caught:
        client.fine_tuning.jobs.create(model="tiny-local", training_file=pairs, validation_file=chats, method=dpo)
    assert caught.value.body["param"] == "validation_file" and "line 1" in caught.value.body["message"]
    with pytest.raises(openai.BadRequestError) as caught:
        bad = {"type": "dpo", "dpo": {"hyperparameters": {"beta": -1}}}
        client.fine_tuning.jobs.create(model="tiny-local", training_file=pairs, method=bad)
    assert caught.value.body["param"] == "method.dpo.hyperparameters.beta"
    with pytest.raises(openai.BadRequestError) as caught:
        bad = {"type": "supervised", "supervised": {"hyperparameters": {"lora": {"r": 4, "dropout": 0.1}}}}
        client.fine_tuning.jobs.create(model="tiny-local", training_file=chats, method=bad)
    assert caught.value.body["param"] == "method.supervised.hyperparameters.lora.dropout"
    assert [j.id for j in client.fine_tuning.jobs.list(limit=100).data] == before


def test_the_cli_sends_dpo_lora_beta_and_the_validation_file(ft_server, client):
    from typer.testing import CliRunner

    from headwater.cli import app

    pairs, chats = upload(client, PAIRS[:2]), upload(client, CHATS[:2])
    where = ["--base-url", ft_server.base_url, "--api-key", ft_server.api_key]
    create = ["finetune", "create", "--model", "tiny-local", "--training-file", pairs, "--method", "dpo", *where]
    runner = CliRunner()
    refused = runner.invoke(app, [*create, "--validation-file", chats])
    assert refused.exit_code == 2 and "[field: validation_file]" in refused.output
    refused = runner.invoke(app, [*create, "--lora", "0"])
    assert refused.exit_code == 2 and "[field: method.dpo.hyperparameters.lora.r]" in refused.output
    refused = runner.invoke(app, [*create, "--beta", "0"])
    assert refused.exit_code == 2 and "[field: method.dpo.hyperparameters.beta]" in refused.output
