"""`headwater up` (the platform with its embedded defaults) and `headwater serve MODEL`."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path
from typing import Annotated, Any

import typer
import uvicorn
from rich.console import Console

from headwater.config import Settings
from headwater.engine.protocol import EngineConfig
from headwater.errors import HeadwaterError
from headwater.platform.catalogue import CatalogueEntry, catalogue_from_settings, read_catalogue

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


def _banner(settings: Settings, names: list[str], key: str | None) -> None:
    url = f"http://{settings.host}:{settings.port}"
    err.print(f"[bold green]Headwater is serving[/] [cyan]{', '.join(names)}[/] at {url}/v1")
    if key is None:
        return
    body = json.dumps(
        {
            "model": names[0],
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


def _catalogue(settings: Settings, models: list[str] | None, models_file: Path | None) -> list[CatalogueEntry]:
    """`--models FILE`, else each `--model` with one TE, else the settings' catalogue (HEADWATER_MODELS or model)."""
    try:
        if models_file is not None:
            return read_catalogue(models_file)
        if models:
            return [CatalogueEntry(model=name) for name in models]
        return catalogue_from_settings(settings)
    except HeadwaterError as error:
        err.print(f"[red]error:[/] {error.message}")
        raise typer.Exit(2) from None


def _run(settings: Settings, catalogue: list[CatalogueEntry], banner_key: str | None) -> None:
    from headwater.platform.app import create_app

    check_port_free(settings.host, settings.port)
    names = [entry.served_name for entry in catalogue]
    err.print(
        f"[bold]Headwater[/] starting [cyan]{', '.join(names)}[/] (a built-in's first start prepares its weights) …"
    )
    app = create_app(settings, on_ready=lambda: _banner(settings, names, banner_key), catalogue=catalogue)
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="warning")


ModelsFile = Annotated[
    Path | None,
    typer.Option(
        "--models",
        help="Catalogue YAML: a top-level `models:` list of {model, name, min_tes, max_tes, idle_timeout_s, "
        "target_in_flight, ttft_slo_s, preload}. Default: HEADWATER_MODELS.",
    ),
]


def up(
    model: Annotated[
        list[str] | None, typer.Option("--model", help="Model to serve; repeat for several (default: smollm2-135m).")
    ] = None,
    models_file: ModelsFile = None,
    port: Annotated[int | None, typer.Option(help="Port (default 8000).")] = None,
) -> None:
    """Start the platform on localhost with its embedded defaults: SQLite store in ./.headwater, the built-in
    smollm2-135m model on one local task executor, one pre-warmed TE in the pool. Prints the URL, an API key and
    an example curl."""
    settings = Settings(port=port) if port is not None else Settings()
    _run(settings, _catalogue(settings, model, models_file), admin_key(settings))


def serve(
    model: Annotated[
        str | None,
        typer.Argument(
            help="Hugging Face id, local folder (save_pretrained), or built-in: smollm2-135m, tiny-chat, tiny-teacher."
        ),
    ] = None,
    extra_models: Annotated[
        list[str] | None, typer.Option("--model", help="Another model to serve; repeat for several.")
    ] = None,
    models_file: ModelsFile = None,
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
    """Serve MODEL (or several: --model A --model B, or a catalogue --models FILE) over an OpenAI-compatible API
    (/v1/chat/completions, /v1/completions, /v1/models).

    Requests need `Authorization: Bearer KEY`; create keys with `headwater keys create`. Every option also reads
    its HEADWATER_* variable (see the README's configuration table). `headwater ps` shows the task executors."""
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
        # only the options given: the others keep their HEADWATER_* variable or default
        overrides: dict[str, Any] = {k: v for k, v in given.items() if v is not None}
        if no_auth:
            overrides["auth"] = False
        settings = Settings(**overrides)
    except ValueError as error:
        err.print(f"[red]error:[/] {error}")
        raise typer.Exit(2) from None
    named = ([model] if model else []) + list(extra_models or [])
    catalogue = _catalogue(settings, named, models_file)
    if served_model_name and len(catalogue) == 1 and not models_file:
        catalogue = [catalogue[0].model_copy(update={"name": served_model_name})]
    _run(settings, catalogue, None)
