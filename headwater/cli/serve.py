"""`headwater up` (the platform with its embedded defaults) and `headwater serve MODEL`."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path
from typing import Annotated

import typer
import uvicorn
from rich.console import Console

from headwater.config import Settings
from headwater.engine.protocol import EngineConfig

err = Console(stderr=True)
ADMIN_KEY_FILE = "admin.key"


def admin_key(settings: Settings) -> str:
    """The local admin key: created once, kept (mode 600) in the data folder so `make up` can show it again."""
    from headwater.platform.auth import ADMIN_TENANT
    from headwater.platform.store import Store

    path = settings.data_dir / ADMIN_KEY_FILE
    store = Store(settings.resolved_store_url)
    try:
        if path.exists():
            key = path.read_text().strip()
            if store.tenant_for_key(key) is not None:
                return key
        _info, key = store.create_api_key(ADMIN_TENANT, name="created by headwater up")
    finally:
        store.engine.dispose()
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    temporary.write_text(key + "\n")
    os.chmod(temporary, 0o600)
    temporary.replace(path)
    return key


def check_port_free(host: str, port: int) -> None:
    if port == 0:
        return
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            err.print(f"[red]error:[/] {host}:{port} is already in use; pass --port or stop the other server")
            raise typer.Exit(2) from None


def _banner(settings: Settings, key: str | None) -> None:
    url = f"http://{settings.host}:{settings.port}"
    err.print(f"[bold green]Headwater is serving[/] [cyan]{settings.public_model_name}[/] at {url}/v1")
    if key is None:
        return
    body = json.dumps(
        {
            "model": settings.public_model_name,
            "messages": [{"role": "user", "content": "What is the capital of France?"}],
        }
    )
    err.print(f"  API key  {key}", soft_wrap=True)
    err.print(
        f"  try      curl {url}/v1/chat/completions -H 'Authorization: Bearer {key}' "
        f"-H 'Content-Type: application/json' -d '{body}'",
        soft_wrap=True,
        markup=False,
    )
    err.print(f"  or       .venv/bin/headwater chat --api-key {key}", soft_wrap=True)


def _run(settings: Settings, banner_key: str | None) -> None:
    from headwater.platform.app import create_app

    check_port_free(settings.host, settings.port)
    err.print(
        f"[bold]Headwater[/] starting [cyan]{settings.model}[/] (a built-in's first start prepares its weights once) …"
    )
    app = create_app(settings, on_ready=lambda: _banner(settings, banner_key))
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="warning")


def up(
    model: Annotated[str | None, typer.Option(help="Model to serve (default: smollm2-135m).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default 8000).")] = None,
) -> None:
    """Start the platform on localhost with its embedded defaults: SQLite store in ./.headwater, one local
    task executor, the built-in smollm2-135m model. Prints the URL, an API key and an example curl."""
    overrides = {k: v for k, v in {"model": model, "port": port}.items() if v is not None}
    settings = Settings(**overrides)
    _run(settings, admin_key(settings))


def serve(
    model: Annotated[
        str,
        typer.Argument(
            help="Hugging Face id, local folder (save_pretrained), or built-in: smollm2-135m, tiny-chat, tiny-teacher."
        ),
    ],
    host: Annotated[str | None, typer.Option(help="Address to bind; default 127.0.0.1.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to bind; default 8000.")] = None,
    max_batch_tokens: Annotated[
        int | None, typer.Option(help=f"Most tokens per engine step; default {EngineConfig().max_batch_tokens}.")
    ] = None,
    dtype: Annotated[str | None, typer.Option(help="auto, float32, bfloat16 or float16; default auto.")] = None,
    served_model_name: Annotated[str | None, typer.Option(help="Name clients send as `model`; default MODEL.")] = None,
    data_dir: Annotated[
        Path | None, typer.Option(help="Store, converted weights and keys; default .headwater.")
    ] = None,
    no_auth: Annotated[bool, typer.Option("--no-auth", help="Accept requests without an API key.")] = False,
) -> None:
    """Serve MODEL over an OpenAI-compatible API (/v1/chat/completions, /v1/completions, /v1/models).

    Requests need `Authorization: Bearer KEY`; create keys with `headwater keys create`. Every option also reads
    its HEADWATER_* variable (see the README's configuration table)."""
    given = {
        "model": model,
        "host": host,
        "port": port,
        "max_batch_tokens": max_batch_tokens,
        "dtype": dtype,
        "served_model_name": served_model_name,
        "data_dir": data_dir,
    }
    try:
        settings = Settings(**{k: v for k, v in given.items() if v is not None}, **({"auth": False} if no_auth else {}))
    except ValueError as error:
        err.print(f"[red]error:[/] {error}")
        raise typer.Exit(2) from None
    _run(settings, None)
