"""Jobs, tasks, events and idempotency keys in the store, on SQLite and (when it can start) PostgreSQL."""

from __future__ import annotations

import pytest

from headwater.errors import ConflictError, NotFoundError
from headwater.footprint.impacts import CRITERIA as FOOTPRINT_CRITERIA
from headwater.platform.jobs.records import JobStore, TaskSpec
from headwater.platform.store import Store
from tests.platform.test_store_postgres import postgres_url  # noqa: F401 - the throwaway cluster fixture


@pytest.fixture
def jobs(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'h.db'}")
    yield JobStore(store)
    store.engine.dispose()


def check_lifecycle(jobs: JobStore) -> None:
    task = TaskSpec("train", "m:f", {"lr": 1})
    job = jobs.create("acme", "finetune", "tiny-chat", {"epochs": 2}, [task], prefix="ftjob-")
    assert (job.state, job.params, job.progress, job.tenant) == ("queued", {"epochs": 2}, 0.0, "acme")
    assert job.id.startswith("ftjob-")
    assert [t.name for t in jobs.tasks(job.id)] == ["train"]
    running = jobs.transition(job.id, "running")
    assert running.started_at is not None
    jobs.update(job.id, progress=0.4, result={"loss": 1.5})
    jobs.update(job.id, result={"accuracy": 0.9})
    jobs.add_checkpoint(job.id, 10, "/tmp/ckpt-10", {"loss": 1.2})
    jobs.set_file(job.id, "output", "file-abc")
    done = jobs.transition(job.id, "succeeded")
    assert (done.state, done.progress, done.result) == ("succeeded", 1.0, {"loss": 1.5, "accuracy": 0.9})
    assert done.files == {"output": "file-abc"} and done.finished_at is not None
    assert [c.step for c in jobs.checkpoints(job.id)] == [10]
    messages = [e.message for e in jobs.events(job.id)]
    assert messages == ["finetune job created", "running", "checkpoint at step 10", "succeeded"]
    assert jobs.events(job.id)[2].data == {"path": "/tmp/ckpt-10", "loss": 1.2}  # written with the checkpoint
    first = jobs.events(job.id)[0].id
    assert [e.message for e in jobs.events(job.id, after=first)][-1] == "succeeded"
    with pytest.raises(ConflictError, match="succeeded; it cannot become running"):
        jobs.transition(job.id, "running")
    impacts = {c: 0.5 for c in FOOTPRINT_CRITERIA}
    jobs.record_footprint(job.id, impacts, "capgemini")
    [summary] = jobs.store.footprint_summary(tenant="acme", model="tiny-chat")
    assert summary.requests == 1 and summary.criteria["energy_kwh"] == 0.5


def test_job_lifecycle_and_illegal_transitions(jobs):
    check_lifecycle(jobs)


@pytest.mark.postgres
def test_job_lifecycle_on_postgres(postgres_url):  # noqa: F811
    store = Store(postgres_url)
    try:
        check_lifecycle(JobStore(store))
        check_idempotency(JobStore(store))
    finally:
        store.engine.dispose()


def test_tenants_and_kinds_do_not_see_each_other(jobs):
    job = jobs.create("acme", "batch", "tiny-chat", {})
    assert jobs.get(job.id, tenant="acme", kind="batch").id == job.id
    for tenant, kind in (("other", "batch"), ("acme", "finetune")):
        with pytest.raises(NotFoundError):
            jobs.get(job.id, tenant=tenant, kind=kind)
    assert jobs.list_jobs("other", "batch") == []
    second = jobs.create("acme", "batch", "tiny-chat", {"n": 2})
    assert [j.id for j in jobs.list_jobs("acme", "batch")] == [second.id, job.id]
    assert [j.id for j in jobs.list_jobs("acme", "batch", after=second.id)] == [job.id]


def check_idempotency(jobs: JobStore) -> None:
    first = jobs.create("acme", "batch", "m", {"input": "a"}, idempotency_key="k1")
    again = jobs.create("acme", "batch", "m", {"input": "a"}, idempotency_key="k1")
    assert again.id == first.id
    assert len(jobs.list_jobs("acme", "batch")) == 1
    with pytest.raises(ConflictError, match="Idempotency-Key 'k1' was already used"):
        jobs.create("acme", "batch", "m", {"input": "b"}, idempotency_key="k1")
    other_tenant = jobs.create("zeta", "batch", "m", {"input": "a"}, idempotency_key="k1")
    assert other_tenant.id != first.id


def test_idempotency_keys(jobs):
    check_idempotency(jobs)


def test_cancel_and_requeue(jobs):
    queued = jobs.create("acme", "batch", "m", {})
    assert jobs.request_cancel(queued.id, "acme", "batch").state == "cancelled"
    running = jobs.create("acme", "batch", "m", {}, [TaskSpec("t", "m:f", {})])
    jobs.transition(running.id, "running")
    jobs.update_task(jobs.tasks(running.id)[0].id, "running", started=True)
    asked = jobs.request_cancel(running.id, "acme", "batch")
    assert asked.state == "running" and asked.cancel_requested_at is not None
    other = jobs.create("acme", "batch", "m", {}, [TaskSpec("t", "m:f", {})])
    jobs.transition(other.id, "running")
    assert set(jobs.requeue_running("batch")) == {running.id, other.id}
    assert jobs.get(other.id).state == "queued"
    assert jobs.tasks(running.id)[0].state == "queued"
    assert jobs.tasks(running.id)[0].attempts == 1


def test_a_new_tenants_concurrent_first_creates_all_succeed(jobs):
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(8) as pool:
        made = list(pool.map(lambda i: jobs.create("fresh", "batch", "m", {"i": i}).id, range(16)))
    assert len(set(made)) == 16 and len(jobs.list_jobs("fresh", "batch", limit=100)) == 16


def test_every_kind_listed_together_filtered_by_state_and_paged(jobs):
    made = [jobs.create("acme", kind, "m", {}) for kind in ("batch", "finetune", "batch", "finetune")]
    jobs.store.start_job("acme", "chat", "m")  # a per-request chat row has no details: never a long job
    jobs.transition(made[1].id, "running")
    newest_first = [j.id for j in reversed(made)]
    assert [j.id for j in jobs.list_jobs("acme", None, limit=10)] == newest_first
    assert [j.id for j in jobs.list_jobs("acme", None, state="running")] == [made[1].id]
    assert [j.id for j in jobs.list_jobs("acme", "batch", state="queued")] == [made[2].id, made[0].id]
    paged, after = [], None
    while page := jobs.list_jobs("acme", None, limit=1, after=after):
        paged.append(page[0].id)
        after = page[0].id
    assert paged == newest_first
    with pytest.raises(NotFoundError):
        jobs.list_jobs("other", None, after=made[0].id)
    cancelled = jobs.request_cancel(made[3].id, "acme", None)  # any kind: the generic route's cancel
    assert cancelled.state == "cancelled"
    with pytest.raises(NotFoundError):
        jobs.request_cancel(made[2].id, "other", None)
