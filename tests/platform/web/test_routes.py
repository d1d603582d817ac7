"""The dashboard's routes against the app: the key login, tenant isolation of jobs, requests, files and footprint,
and what a non-admin may see of the task executors."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from headwater.config import Settings
from headwater.footprint.impacts import CRITERIA
from headwater.platform.app import create_app
from headwater.platform.store import JobResult

API = "/dashboard/api"
SNAPSHOT = {
    "models": [
        {
            "name": "tiny",
            "model": "/models/tiny",
            "min_tes": 1,
            "max_tes": 2,
            "policy": "least_load",
            "weights": {},
            "tes": [
                {"id": "te-1", "state": "ready", "pid": 4242, "actor": None, "in_flight": 2, "bound_since": 0.0,
                 "load": {"running": 2, "waiting": 1}, "cache": {"blocks": 0, "queries": 0, "hits": 0}},
                {"id": "te-2", "state": "starting", "pid": 4343, "actor": None, "in_flight": 0, "bound_since": None,
                 "load": {"running": 0, "waiting": 0}, "cache": {"blocks": 0, "queries": 0, "hits": 0}},
            ],
        }
    ],
    "pool": [{"id": "te-p", "state": "pooled", "pid": 5151, "actor": None}],
}  # fmt: skip


@pytest.fixture
def dashboard(tmp_path):
    app = create_app(Settings(data_dir=tmp_path, pool_size=0), catalogue=[])
    gateway = app.state.gateway
    keys = {name: gateway.store.create_api_key(name)[1] for name in ("admin", "alice", "bob")}
    with TestClient(app) as client:
        yield client, gateway, keys


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def footprint(gwp: float) -> dict[str, float]:
    return {**{c: gwp / 10 for c in CRITERIA}, "gwp_kgco2e": gwp, "estimator": "capgemini"}


def test_the_page_is_public_but_every_api_route_needs_a_login(dashboard):
    client, _gateway, keys = dashboard
    page = client.get("/")
    assert page.status_code == 200 and 'id="login-view"' in page.text and "/dashboard/dashboard.js" in page.text
    assert client.get("/dashboard/dashboard.js").headers["content-type"].startswith("text/javascript")
    assert client.get("/dashboard/routes.py").status_code == 404  # only the page's own files are served
    for path in ("me", "models", "jobs", "jobs/job_x", "requests", "footprint", "files/file-x"):
        response = client.get(f"{API}/{path}")
        assert response.status_code == 401, path
        assert "log in" in response.json()["error"]["message"]
    assert client.get(f"{API}/me", headers=bearer("hw-wrong")).status_code == 401
    assert client.post(f"{API}/login", json={"key": "hw-wrong"}).status_code == 401
    login = client.post(f"{API}/login", json={"key": keys["alice"]})
    assert login.json() == {"tenant": "alice", "admin": False}
    cookie = login.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "path=/dashboard" in cookie
    assert client.get(f"{API}/me").json() == {"tenant": "alice", "admin": False}  # the cookie carries the login
    client.post(f"{API}/logout")
    assert client.get(f"{API}/me").status_code == 401


def test_a_tenant_sees_only_its_own_jobs_requests_and_files(dashboard):
    client, gateway, keys = dashboard
    records, files = gateway.jobs.records, gateway.jobs.files
    mine = records.create("alice", "judge", "tiny", {"n": 3})
    theirs = records.create("bob", "judge", "tiny", {"n": 1})
    records.transition(mine.id, "running")
    records.update(mine.id, progress=0.5)
    records.add_event(mine.id, "judged 1 of 2")
    report = files.add_output("alice", "report.json", "batch_output", b'{"accuracy": 1.0}')
    records.set_file(mine.id, "report", report.id)
    bobs_file = files.add_output("bob", "secret.json", "batch_output", b"{}")
    request_id = gateway.store.start_job("alice", "chat", "tiny")
    gateway.store.start_job("bob", "chat", "tiny")

    alice = bearer(keys["alice"])
    listed = client.get(f"{API}/jobs", headers=alice).json()["jobs"]
    assert [(j["id"], j["state"], j["progress"]) for j in listed] == [(mine.id, "running", 0.5)]
    detail = client.get(f"{API}/jobs/{mine.id}", headers=alice).json()
    assert [e["message"] for e in detail["events"]] == ["judge job created", "running", "judged 1 of 2"]
    assert detail["files"] == [{"role": "report", "id": report.id, "filename": "report.json", "bytes": 17}]
    download = client.get(f"{API}/files/{report.id}", headers=alice)
    assert (
        download.content == b'{"accuracy": 1.0}' and 'filename="report.json"' in download.headers["content-disposition"]
    )
    files.delete("alice", report.id)
    assert client.get(f"{API}/jobs/{mine.id}", headers=alice).json()["files"] == []  # a deleted file drops out
    assert client.get(f"{API}/jobs/{theirs.id}", headers=alice).status_code == 404
    assert client.get(f"{API}/files/{bobs_file.id}", headers=alice).status_code == 404
    requests = client.get(f"{API}/requests", headers=alice).json()["requests"]
    assert [(r["id"], r["kind"], r["state"]) for r in requests] == [(request_id, "chat", "running")]
    bob_jobs = client.get(f"{API}/jobs", headers=bearer(keys["bob"])).json()["jobs"]
    assert [j["id"] for j in bob_jobs] == [theirs.id]


def test_the_footprint_charts_sum_the_tenants_requests_per_day_and_per_model(dashboard):
    client, gateway, keys = dashboard
    store = gateway.store
    for tenant, model, gwp in (("alice", "small", 1e-4), ("alice", "small", 2e-4), ("alice", "big", 6e-4),
                               ("bob", "small", 5.0)):  # fmt: skip
        store.finish_job(store.start_job(tenant, "chat", model), JobResult("succeeded", footprint=footprint(gwp)))
    body = client.get(f"{API}/footprint", headers=bearer(keys["alice"])).json()
    assert body["requests"] == 3 and body["unit"] == "kg CO2e"
    assert [(m["model"], m["value"]) for m in body["per_model"]] == [
        ("big", pytest.approx(6e-4)),
        ("small", pytest.approx(3e-4)),
    ]
    [today] = body["per_day"]
    assert today["value"] == pytest.approx(9e-4)
    assert body["charts"]["per_model"].count('class="bar"') == 2 and 'data-label="big"' in body["charts"]["per_model"]
    energy = client.get(f"{API}/footprint?criterion=energy_kwh", headers=bearer(keys["alice"])).json()
    assert energy["per_day"][0]["value"] == pytest.approx(9e-5)
    bad = client.get(f"{API}/footprint?criterion=joules", headers=bearer(keys["alice"]))
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "criterion"


def test_tenants_see_te_counts_and_the_admin_also_sees_pids_and_the_pool(dashboard, monkeypatch):
    client, gateway, keys = dashboard
    monkeypatch.setattr(gateway.control, "snapshot", lambda: SNAPSHOT)
    tenant = client.get(f"{API}/models", headers=bearer(keys["alice"])).json()
    [model] = tenant["models"]
    assert (model["name"], model["tes"], model["states"]) == ("tiny", 2, {"ready": 1, "starting": 1})
    assert (model["running"], model["waiting"]) == (2, 1)
    assert "executors" not in model and tenant["pool"] is None and "4242" not in str(tenant)
    admin = client.get(f"{API}/models", headers=bearer(keys["admin"])).json()
    assert [te["pid"] for te in admin["models"][0]["executors"]] == [4242, 4343]
    assert admin["pool"] == SNAPSHOT["pool"]


def test_with_auth_off_the_dashboard_shows_the_anonymous_tenant(tmp_path):
    app = create_app(Settings(data_dir=tmp_path, auth=False, pool_size=0), catalogue=[])
    with TestClient(app) as client:
        assert client.get(f"{API}/me").json() == {"tenant": "default", "admin": True}
