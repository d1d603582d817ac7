"""`headwater keys`: create, list and revoke, as JSON for scripts."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from headwater.cli import app
from headwater.platform.store import Store

runner = CliRunner()


def _json(args: list[str]) -> dict:
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_create_list_revoke(tmp_path):
    folder = ["--data-dir", str(tmp_path)]
    created = _json(["keys", "create", "--tenant", "acme", "--name", "ci", "--json", *folder])
    assert created["tenant"] == "acme" and created["key"].startswith("hw-")
    store = Store(f"sqlite:///{tmp_path / 'headwater.db'}")
    assert store.tenant_for_key(created["key"]) == "acme"
    listed = _json(["keys", "list", "--json", *folder])["keys"]
    assert [k["id"] for k in listed] == [created["id"]] and "key" not in listed[0]
    revoked = _json(["keys", "revoke", created["id"], "--json", *folder])
    assert revoked["revoked_at"] is not None
    assert store.tenant_for_key(created["key"]) is None
    assert _json(["keys", "list", "--json", *folder])["keys"] == []
    assert len(_json(["keys", "list", "--all", "--json", *folder])["keys"]) == 1
    store.engine.dispose()


def test_revoking_an_unknown_key_is_bad_input(tmp_path):
    result = runner.invoke(app, ["keys", "revoke", "key_nope", "--data-dir", str(tmp_path)])
    assert result.exit_code == 2
    assert "keys list" in result.output


def test_help_teaches():
    result = runner.invoke(app, ["serve", "--help"])
    assert result.exit_code == 0
    for flag in ("--port", "--host", "--max-batch-tokens", "--dtype"):
        assert flag in result.output
