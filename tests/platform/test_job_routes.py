"""`/v1/jobs` over every kind a tenant owns, and tenancy: a second tenant walks every files, batches, fine-tuning,
jobs and models route against the first tenant's ids and gets a 404 each time (never a 403, never a leak), and
the first tenant's records are untouched afterwards."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from tests.conftest import start_server
from tests.platform.test_files_api import client_for

openai = pytest.importorskip("openai")

EXAMPLES = [
    {"messages": [{"role": "user", "content": f"What is {a}+{a}?"}, {"role": "assistant", "content": str(2 * a)}]}
    for a in range(8)
]
FINISHED = ("succeeded", "failed", "cancelled")


@pytest.fixture(scope="module")
def owner_server(tmp_path_factory, saved_tiny_model):
    server = start_server(saved_tiny_model, tmp_path_factory.mktemp("jobs"), "tiny-local", {"HEADWATER_POOL_SIZE": "0"})
    yield server
    server.stop()


@pytest.fixture(scope="module")
def owned(owner_server):
    """The first tenant's records: a training file, a batch file, a finished batch and a finished fine-tuning job
    whose model is served."""
    client = openai.OpenAI(base_url=owner_server.base_url, api_key=owner_server.api_key, max_retries=0, timeout=120)
    data = "\n".join(json.dumps(example) for example in EXAMPLES).encode()
    training = client.files.create(file=("train.jsonl", data), purpose="fine-tune")
    body = {"model": "tiny-local", "prompt": "Hi", "max_tokens": 2}
    line = {"custom_id": "a", "method": "POST", "url": "/v1/completions", "body": body}
    batch_file = client.files.create(file=("b.jsonl", json.dumps(line).encode()), purpose="batch")
    batch = client.batches.create(input_file_id=batch_file.id, endpoint="/v1/completions", completion_window="24h")
    method = {"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 1, "batch_size": 8}}}
    job = client.fine_tuning.jobs.create(model="tiny-local", training_file=training.id, suffix="mine", method=method)
    deadline = time.monotonic() + 400
    while (job := client.fine_tuning.jobs.retrieve(job.id)).status not in FINISHED or client.batches.retrieve(
        batch.id
    ).status not in ("completed", "failed", "cancelled"):
        assert time.monotonic() < deadline, f"fine-tune {job.status}"
        time.sleep(0.5)
    assert job.status == "succeeded", job.error
    return {"client": client, "training": training.id, "batch_file": batch_file.id, "batch": batch.id, "job": job}


def _get(server, key: str, path: str, **params: object) -> httpx.Response:
    return httpx.get(f"{server.base_url}{path}", params=params, headers={"Authorization": f"Bearer {key}"}, timeout=30)


def test_jobs_lists_every_kind_filters_and_pages(owner_server, owned):
    key = owner_server.api_key
    everything = _get(owner_server, key, "/jobs").json()
    assert [j["kind"] for j in everything["data"]] == ["finetune", "batch"]  # newest first
    assert {j["state"] for j in everything["data"]} == {"succeeded"} and not everything["has_more"]
    assert [j["id"] for j in _get(owner_server, key, "/jobs", kind="batch").json()["data"]] == [owned["batch"]]
    assert _get(owner_server, key, "/jobs", state="running").json()["data"] == []
    first = _get(owner_server, key, "/jobs", limit=1).json()
    assert first["has_more"] and first["first_id"] == first["last_id"] == owned["job"].id
    second = _get(owner_server, key, "/jobs", limit=1, after=first["last_id"]).json()
    assert [j["id"] for j in second["data"]] == [owned["batch"]] and not second["has_more"]
    refused = _get(owner_server, key, "/jobs", state="sleeping")
    assert refused.status_code == 400 and refused.json()["error"]["param"] == "query.state"
    job = _get(owner_server, key, f"/jobs/{owned['job'].id}").json()
    assert job["result"]["fine_tuned_model"] == owned["job"].fine_tuned_model and job["progress"] == 1.0


def test_events_follow_with_after(owner_server, owned):
    key, path = owner_server.api_key, f"/jobs/{owned['job'].id}/events"
    events = _get(owner_server, key, path, limit=1000).json()["data"]
    assert events[0]["message"] == "finetune job created" and events[-1]["message"] == "succeeded"
    page = _get(owner_server, key, path, limit=2).json()
    assert page["has_more"] and [e["id"] for e in page["data"]] == [e["id"] for e in events[:2]]
    rest = _get(owner_server, key, path, limit=1000, after=page["last_id"]).json()
    assert [e["id"] for e in rest["data"]] == [e["id"] for e in events[2:]]


def test_fine_tuning_events_and_checkpoints_page_with_after(owner_server, owned):
    key, job_id = owner_server.api_key, owned["job"].id
    for path, kind in (("events", "ftevent-"), ("checkpoints", "ftckpt-")):
        route = f"/fine_tuning/jobs/{job_id}/{path}"
        every = _get(owner_server, key, route, limit=100).json()["data"]
        assert every and all(item["id"].startswith(kind) for item in every)
        walked, after = [], None
        while True:
            page = _get(owner_server, key, route, limit=1, **({"after": after} if after else {})).json()
            walked += [item["id"] for item in page["data"]]
            assert len(walked) <= len(every), "a page repeated items: `after` was not followed"
            assert page["first_id"] == page["last_id"] == page["data"][0]["id"]
            if not page["has_more"]:
                break
            after = page["last_id"]
        assert walked == [item["id"] for item in every]  # newest first, each item once
        past_the_end = _get(owner_server, key, route, after=every[-1]["id"]).json()
        assert past_the_end["data"] == [] and not past_the_end["has_more"] and past_the_end["last_id"] is None
        refused = _get(owner_server, key, route, after=f"{kind}999999")
        assert refused.status_code == 400 and refused.json()["error"]["param"] == "after"
    sdk_walk = [event.id for event in owned["client"].fine_tuning.jobs.list_events(job_id, limit=3)]
    assert sdk_walk == [
        e["id"] for e in _get(owner_server, key, f"/fine_tuning/jobs/{job_id}/events", limit=100).json()["data"]
    ]


def test_another_tenant_sees_and_touches_nothing(owner_server, owned):
    client = owned["client"]
    other = client_for(owner_server, "intruder")
    job, ft_model = owned["job"], owned["job"].fine_tuned_model
    file_calls = (other.files.retrieve, other.files.content, other.files.delete)
    calls = [
        *[(call, file_id) for file_id in (owned["training"], owned["batch_file"]) for call in file_calls],
        (other.batches.retrieve, owned["batch"]),
        (other.batches.cancel, owned["batch"]),
        (other.fine_tuning.jobs.retrieve, job.id),
        (other.fine_tuning.jobs.cancel, job.id),
        (other.fine_tuning.jobs.list_events, job.id),
        (other.fine_tuning.jobs.checkpoints.list, job.id),
        (other.models.retrieve, ft_model),
    ]
    for call, target in calls:
        with pytest.raises(openai.NotFoundError):
            call(target)
    with pytest.raises(openai.NotFoundError):
        other.batches.create(input_file_id=owned["batch_file"], endpoint="/v1/completions", completion_window="24h")
    with pytest.raises(openai.NotFoundError):
        other.fine_tuning.jobs.create(model="tiny-local", training_file=owned["training"])
    own_file = other.files.create(file=("t.jsonl", json.dumps(EXAMPLES[0]).encode()), purpose="fine-tune")
    with pytest.raises(openai.NotFoundError) as caught:  # another's fine-tuned model as the base: unknown
        other.fine_tuning.jobs.create(model=ft_model, training_file=own_file.id)
    assert caught.value.body["param"] == "model" and ft_model in caught.value.body["message"]
    distill = {"type": "distill", "distill": {"teacher": ft_model}}
    with pytest.raises(openai.NotFoundError) as caught:  # …or as a teacher
        other.fine_tuning.jobs.create(model="tiny-local", training_file=own_file.id, method=distill)
    assert caught.value.body["param"] == "method.distill.teacher"
    for generate in (
        lambda: other.chat.completions.create(model=ft_model, messages=[{"role": "user", "content": "hi"}]),
        lambda: other.completions.create(model=ft_model, prompt="hi", max_tokens=2),
    ):
        with pytest.raises(openai.NotFoundError) as caught:
            generate()
        assert f"model {ft_model!r} does not exist" in caught.value.body["message"]
        assert ft_model not in caught.value.body["message"].split("available models:")[1]
    _walk_the_generic_routes(owner_server, other.api_key, owned)
    _operational_routes_name_it_to_its_owner_and_the_admin_only(owner_server, other.api_key, ft_model)
    assert [f.id for f in other.files.list().data] == [own_file.id]
    assert other.batches.list().data == [] and other.fine_tuning.jobs.list().data == []
    assert ft_model not in [m.id for m in other.models.list().data]
    _owner_records_are_untouched(client, owned)


def _walk_the_generic_routes(server, key: str, owned: dict) -> None:
    headers = {"Authorization": f"Bearer {key}"}
    for job_id in (owned["job"].id, owned["batch"]):
        for method, path in (("GET", ""), ("POST", "/cancel"), ("GET", "/events")):
            response = httpx.request(method, f"{server.base_url}/jobs/{job_id}{path}", headers=headers, timeout=30)
            assert response.status_code == 404, (method, path, response.text)
    assert _get(server, key, "/jobs").json()["data"] == []
    assert _get(server, key, "/jobs", after=owned["job"].id).status_code == 404


def _operational_routes_name_it_to_its_owner_and_the_admin_only(server, other_key: str, ft_model: str) -> None:
    """/health and /metrics: no key (a load balancer, a scraper) and another tenant see the shared model only."""
    root = server.base_url.removesuffix("/v1")
    admin_key = client_for(server, "admin").api_key
    for key, shown in ((None, False), (other_key, False), (server.api_key, True), (admin_key, True)):
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        health = httpx.get(f"{root}/health", headers=headers, timeout=30)
        assert health.status_code == 200 and (ft_model in health.json()["models"]) is shown, key
        assert server.model in health.json()["models"]
        metrics = httpx.get(f"{root}/metrics", headers=headers, timeout=30).text
        assert (f'model="{ft_model}"' in metrics) is shown and f'model="{server.model}"' in metrics, key


def _owner_records_are_untouched(client, owned: dict) -> None:
    job = client.fine_tuning.jobs.retrieve(owned["job"].id)
    assert job.status == "succeeded"
    assert client.batches.retrieve(owned["batch"]).status == "completed"
    assert {owned["training"], owned["batch_file"]} <= {f.id for f in client.files.list().data}
    assert job.fine_tuned_model in [m.id for m in client.models.list().data]
    reply = client.chat.completions.create(
        model=job.fine_tuned_model, messages=[{"role": "user", "content": "2+2?"}], max_tokens=2
    )
    assert reply.model == job.fine_tuned_model
