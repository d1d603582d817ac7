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
    with pytest.raises(ValidationError, match="tenant_max_queued_requests"):
        Settings(max_queued_requests=4, tenant_max_queued_requests=8)


def test_store_url_wins(monkeypatch):
    monkeypatch.setenv("HEADWATER_STORE_URL", "postgresql://db/headwater")
    assert Settings().resolved_store_url == "postgresql://db/headwater"
