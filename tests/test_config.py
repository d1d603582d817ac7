"""Settings read HEADWATER_* variables and check cross-field limits by name."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from headwater.config import Settings


def test_environment_overrides_defaults(monkeypatch, tmp_path):
    monkeypatch.setenv("HEADWATER_PORT", "9001")
    monkeypatch.setenv("HEADWATER_DATA_DIR", str(tmp_path))
    settings = Settings()
    assert settings.port == 9001
    assert settings.resolved_store_url == f"sqlite:///{(tmp_path / 'headwater.db').resolve()}"
    assert settings.public_model_name == "smollm2-135m"


def test_tenant_bound_cannot_exceed_total():
    with pytest.raises(ValidationError, match="tenant_max_queued_sequences"):
        Settings(max_queued_sequences=4, tenant_max_queued_sequences=8)


def test_a_request_cap_no_request_could_meet_is_refused():
    with pytest.raises(ValidationError, match="max_sequences_per_request"):
        Settings(tenant_max_queued_sequences=8, max_sequences_per_request=16)


def test_the_former_request_bound_names_still_apply(monkeypatch):
    monkeypatch.setenv("HEADWATER_MAX_QUEUED_REQUESTS", "300")
    monkeypatch.setenv("HEADWATER_TENANT_MAX_QUEUED_REQUESTS", "280")
    settings = Settings()
    assert (settings.max_queued_sequences, settings.tenant_max_queued_sequences) == (300, 280)


def test_store_url_wins(monkeypatch):
    monkeypatch.setenv("HEADWATER_STORE_URL", "postgresql://db/headwater")
    assert Settings().resolved_store_url == "postgresql://db/headwater"
