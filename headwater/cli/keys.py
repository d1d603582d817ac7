"""`headwater keys create|list|revoke`: API keys per tenant, stored hashed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from headwater.cli.options import Json
from headwater.config import Settings
from headwater.errors import HeadwaterError
from headwater.platform.store import ApiKeyInfo, Store

app = typer.Typer(help="Create, list and revoke API keys (one tenant per key owner).", no_args_is_help=True)
out = Console()
err = Console(stderr=True)
DataDir = Annotated[
    Path | None, typer.Option(help="Data folder of the store (default: HEADWATER_DATA_DIR or ./.headwater).")
]


def _store(data_dir: Path | None) -> Store:
    settings = Settings(data_dir=data_dir) if data_dir else Settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return Store(settings.resolved_store_url)


def _as_dict(info: ApiKeyInfo) -> dict[str, object]:
    return {
        "id": info.id,
        "tenant": info.tenant,
        "name": info.name,
        "hint": info.hint,
        "created_at": info.created_at.isoformat(),
        "revoked_at": info.revoked_at.isoformat() if info.revoked_at else None,
    }


@app.command()
def create(
    tenant: Annotated[str, typer.Option(help="Tenant that owns the key (created if new).")] = "default",
    name: Annotated[str, typer.Option(help="A label to recognise the key by.")] = "",
    data_dir: DataDir = None,
    as_json: Json = False,
) -> None:
    """Create a key. The key is printed once; only its hash is stored."""
    try:
        info, key = _store(data_dir).create_api_key(tenant, name)
    except HeadwaterError as error:
        err.print(f"[red]error:[/] {error.message}")
        raise typer.Exit(2) from None
    if as_json:
        print(json.dumps({**_as_dict(info), "key": key}))
        return
    out.print(f"key for tenant [cyan]{tenant}[/] (shown once, store it now):\n{key}")


@app.command("list")
def list_keys(
    all_keys: Annotated[bool, typer.Option("--all", help="Include revoked keys.")] = False,
    data_dir: DataDir = None,
    as_json: Json = False,
) -> None:
    """List keys: id, tenant, name, a hint of the key, and whether it is revoked."""
    keys = _store(data_dir).list_api_keys(include_revoked=all_keys)
    if as_json:
        print(json.dumps({"keys": [_as_dict(info) for info in keys]}))
        return
    table = Table("id", "tenant", "name", "hint", "created", "revoked")
    for info in keys:
        table.add_row(
            info.id,
            info.tenant,
            info.name,
            info.hint,
            f"{info.created_at:%Y-%m-%d %H:%M}",
            f"{info.revoked_at:%Y-%m-%d %H:%M}" if info.revoked_at else "",
        )
    out.print(table)


@app.command()
def revoke(
    key_id: Annotated[str, typer.Argument(help="The key's id, from `headwater keys list`.")],
    data_dir: DataDir = None,
    as_json: Json = False,
) -> None:
    """Revoke a key: requests with it get HTTP 401 from then on."""
    try:
        info = _store(data_dir).revoke_api_key(key_id)
    except HeadwaterError as error:
        err.print(f"[red]error:[/] {error.message}")
        raise typer.Exit(2) from None
    if as_json:
        print(json.dumps(_as_dict(info)))
        return
    out.print(f"revoked {info.id} ({info.tenant})")
