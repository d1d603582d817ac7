"""The store: keys hashed and revocable, jobs written whole."""

from __future__ import annotations

import pytest

from headwater.errors import InvalidRequestError, NotFoundError
from headwater.footprint.impacts import CRITERIA
from headwater.platform.store import JobResult, Store, hash_key


@pytest.fixture
def store(tmp_path):
    created = Store(f"sqlite:///{tmp_path / 'store.db'}")
    yield created
    created.engine.dispose()


def test_key_resolves_to_its_tenant_until_revoked(store):
    info, key = store.create_api_key("acme", "ci")
    assert key.startswith("hw-") and len(key) > 40
    assert store.tenant_for_key(key) == "acme"
    assert store.tenant_for_key(key + "x") is None
    store.revoke_api_key(info.id)
    assert store.tenant_for_key(key) is None
    assert [k.id for k in store.list_api_keys()] == []
    assert [k.id for k in store.list_api_keys(include_revoked=True)] == [info.id]


def test_keys_are_stored_hashed_only(store, tmp_path):
    _info, key = store.create_api_key("acme")
    store.engine.dispose()
    raw = (tmp_path / "store.db").read_bytes() + b"".join(p.read_bytes() for p in tmp_path.glob("store.db-*"))
    assert key.encode() not in raw
    assert hash_key(key).encode() in raw


def test_revoking_an_unknown_key_names_the_fix(store):
    with pytest.raises(NotFoundError, match="keys list"):
        store.revoke_api_key("key_missing")


def test_tenant_name_is_validated(store):
    with pytest.raises(InvalidRequestError) as error:
        store.create_api_key("")
    assert error.value.param == "tenant"


def test_job_life_cycle(store):
    job_id = store.start_job("acme", "chat", "tiny-chat")
    [running] = store.list_jobs("acme")
    assert running.state == "running"
    store.finish_job(job_id, JobResult("succeeded", 12, 30, 0.05, 0.9))
    [done] = store.list_jobs("acme")
    assert (done.state, done.prompt_tokens, done.completion_tokens, done.ttft_s, done.e2e_s) == (
        "succeeded",
        12,
        30,
        0.05,
        0.9,
    )
    assert store.list_jobs("other") == []


def test_an_unknown_job_cannot_finish_and_writes_nothing(store):
    with pytest.raises(NotFoundError, match="no job 'job_nope'"):
        store.finish_job(
            "job_nope", JobResult("succeeded", footprint={"estimator": "x", **dict.fromkeys(CRITERIA, 1.0)})
        )
    assert store.list_jobs() == [] and store.footprint_summary() == []


def test_a_job_cannot_finish_as_running(store):
    job_id = store.start_job("acme", "chat", "m")
    with pytest.raises(ValueError, match="succeeded, failed or cancelled"):
        store.finish_job(job_id, JobResult("running"))
    assert store.list_jobs()[0].state == "running"


def test_footprint_rows_are_summed_per_tenant_model_and_day(store):
    impacts = {
        "estimator": "capgemini",
        "energy_kwh": 1.0,
        "gwp_kgco2e": 0.5,
        "water_m3eq": 0.1,
        "pe_mj": 10.0,
        "adpe_kgsbeq": 1e-9,
    }
    for tenant, model in (("acme", "m1"), ("acme", "m1"), ("acme", "m2"), ("other", "m1")):
        store.finish_job(store.start_job(tenant, "chat", model), JobResult("succeeded", footprint=impacts))
    store.finish_job(store.start_job("acme", "chat", "m1"), JobResult("failed"))
    rows = store.footprint_summary("acme")
    assert [(r.model, r.requests, r.criteria["energy_kwh"]) for r in rows] == [("m1", 2, 2.0), ("m2", 1, 1.0)]
    day = rows[0].day
    assert store.footprint_summary("acme", since=day, until=day, model="m2")[0].criteria["gwp_kgco2e"] == 0.5
    assert store.footprint_summary("acme", since="2999-01-01") == []
    assert len(store.footprint_summary()) == 3


def test_sqlite_logs_ahead_and_commits_without_waiting_for_the_disk(store):
    with store.engine.connect() as connection:
        journal = connection.exec_driver_sql("PRAGMA journal_mode").scalar()
        synchronous = connection.exec_driver_sql("PRAGMA synchronous").scalar()
    assert (journal, synchronous) == ("wal", 1)  # 1 is NORMAL: safe across a process crash, no fsync per commit
