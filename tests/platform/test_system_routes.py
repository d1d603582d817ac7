"""/health and /metrics answer without a key, but name a tenant's fine-tuned model only to its owner and the admin:
no key (a load balancer, a scraper) and another tenant's key see the shared models only; a wrong key is a 401.
The dashboard's model list follows the same rule. Both models are catalogued at zero TEs, so nothing is loaded."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from headwater.config import Settings
from headwater.platform.app import create_app
from headwater.platform.catalogue import CatalogueEntry

FT = "ft:tiny-local:secret:abcd1234"
GONE = "ft:tiny-local:removed:0000ffff"


@pytest.fixture
def platform(tmp_path, saved_tiny_model):
    """A gateway with a shared model and alice's fine-tuned one, keys for admin, alice and bob, and counters of
    both models (and of a fine-tuned model no longer catalogued) in the registry."""
    catalogue = [
        CatalogueEntry(model=str(saved_tiny_model), name="tiny-local", min_tes=0),
        CatalogueEntry(model=str(saved_tiny_model), name=FT, min_tes=0, owner="alice"),
    ]
    # No autoscaling decision during the test: one replaces an entry below and must not see a TE start.
    settings = Settings(data_dir=tmp_path, pool_size=0, share_weights=False, autoscale_period_s=3600)
    app = create_app(settings, catalogue=catalogue)
    gateway = app.state.gateway
    keys = {name: gateway.store.create_api_key(name)[1] for name in ("admin", "alice", "bob")}
    with TestClient(app) as client:
        for model in ("tiny-local", FT, GONE):
            gateway.metrics.requests.labels(model, "stop").inc()
            gateway.metrics.e2e.labels(model).observe(0.2)
        yield client, gateway, keys


def _as(keys: dict[str, str], who: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {keys[who]}"} if who else {}


@pytest.mark.parametrize("who", [None, "bob"])
def test_no_key_or_another_tenant_never_sees_a_fine_tuned_name(platform, who):
    client, _gateway, keys = platform
    health = client.get("/health", headers=_as(keys, who))
    assert health.status_code == 200 and list(health.json()["models"]) == ["tiny-local"]
    assert FT not in health.text
    metrics = client.get("/metrics", headers=_as(keys, who)).text
    assert FT not in metrics and GONE not in metrics and "secret" not in metrics
    assert 'headwater:request_success_total{finished_reason="stop",model="tiny-local"} 1.0' in metrics
    assert 'headwater:e2e_request_latency_seconds_count{model="tiny-local"} 1.0' in metrics
    assert 'headwater:num_requests_running{model="tiny-local"}' in metrics
    assert "headwater:pooled_task_executors 0.0" in metrics  # series without a model label stay


def test_the_owner_sees_its_own_and_the_admin_sees_every_model(platform):
    client, _gateway, keys = platform
    assert sorted(client.get("/health", headers=_as(keys, "alice")).json()["models"]) == [FT, "tiny-local"]
    own = client.get("/metrics", headers=_as(keys, "alice")).text
    assert f'headwater:request_success_total{{finished_reason="stop",model="{FT}"}} 1.0' in own and GONE not in own
    assert sorted(client.get("/health", headers=_as(keys, "admin")).json()["models"]) == [FT, "tiny-local"]
    every = client.get("/metrics", headers=_as(keys, "admin")).text
    assert f'headwater:e2e_request_latency_seconds_count{{model="{FT}"}} 1.0' in every
    assert f'model="{GONE}"' in every and f'headwater:num_requests_running{{model="{FT}"}}' in every


def test_a_wrong_key_is_refused_rather_than_shown_less(platform):
    client, _gateway, _keys = platform
    for path in ("/health", "/metrics"):
        refused = client.get(path, headers={"Authorization": "Bearer hw-wrong"})
        assert refused.status_code == 401 and "invalid or revoked API key" in refused.json()["error"]["message"]


def test_a_hidden_model_that_is_down_degrades_health_without_its_name(platform):
    client, gateway, keys = platform
    entries = gateway.control.entries
    entries[FT] = entries[FT].model_copy(update={"min_tes": 1})  # keeps a TE up, and has none
    public = client.get("/health")
    assert public.status_code == 503 and public.json()["status"] == "degraded" and FT not in public.text
    assert "a model not listed here" in public.json()["detail"]
    admin = client.get("/health", headers=_as(keys, "admin"))
    assert admin.status_code == 503 and admin.json()["models"][FT] == [] and "detail" not in admin.json()


def test_the_dashboard_lists_a_fine_tuned_model_to_its_owner_and_the_admin_only(platform):
    client, _gateway, keys = platform
    for who, expected in (("bob", ["tiny-local"]), ("alice", [FT, "tiny-local"]), ("admin", [FT, "tiny-local"])):
        listed = client.get("/dashboard/api/models", headers=_as(keys, who)).json()["models"]
        assert sorted(model["name"] for model in listed) == expected, who


def test_with_auth_off_everyone_sees_every_model(tmp_path, saved_tiny_model):
    entry = CatalogueEntry(model=str(saved_tiny_model), name=FT, min_tes=0, owner="alice")
    app = create_app(Settings(data_dir=tmp_path, auth=False, pool_size=0, share_weights=False), catalogue=[entry])
    with TestClient(app) as client:
        assert list(client.get("/health").json()["models"]) == [FT]
        assert f'headwater:num_requests_running{{model="{FT}"}}' in client.get("/metrics").text
