"""`headwater ps`: the catalogued models of a running server, their task executors, and the pool."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console
from rich.table import Table

from headwater.models.openai_generator import default_api_key

out = Console()
err = Console(stderr=True)


def _key(api_key: str | None, data_dir: Path) -> str | None:
    """The key given, else HEADWATER_API_KEY / OPENAI_API_KEY, else the local admin key `headwater up` wrote."""
    admin = data_dir / "admin.key"
    return api_key or default_api_key() or (admin.read_text().strip() if admin.exists() else None)


def ps(
    base_url: Annotated[str, typer.Option(help="The server's OpenAI base URL.")] = "http://127.0.0.1:8000/v1",
    api_key: Annotated[
        str | None,
        typer.Option(help="An admin key; default HEADWATER_API_KEY, OPENAI_API_KEY or .headwater/admin.key."),
    ] = None,
    data_dir: Annotated[Path, typer.Option(help="Where `headwater up` keeps its admin key.")] = Path(".headwater"),
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.")] = False,
) -> None:
    """Show each catalogued model with its task executors (state, pid, requests in flight) and the pool of
    pre-warmed ones. Needs an admin key."""
    key = _key(api_key, data_dir)
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    try:
        response = httpx.get(base_url.rstrip("/") + "/admin/executors", headers=headers, timeout=10)
    except httpx.HTTPError as error:
        err.print(f"[red]error:[/] cannot reach {base_url}: {error}; is the server running (`headwater up`)?")
        raise typer.Exit(1) from None
    if response.status_code != 200:
        message = response.json().get("error", {}).get("message", response.text) if response.content else ""
        err.print(f"[red]error:[/] {response.status_code} from {base_url}: {message}")
        raise typer.Exit(2 if response.status_code in (401, 403) else 1)
    state = response.json()
    if as_json:
        print(json.dumps(state))
        return
    table = Table(
        "model",
        "served from",
        "serving mode",
        "TEs (min–max)",
        "TE",
        "mode",
        "state",
        "pid (or Ray actor)",
        "in flight",
    )
    for model in state["models"]:
        tes = model["tes"] or [{"id": "—", "state": "at zero", "pid": None, "in_flight": 0, "mode": "—"}]
        for index, te in enumerate(tes):
            first = index == 0
            table.add_row(
                model["name"] if first else "",
                model["model"] if first else "",
                _serving_mode(model) if first else "",
                _sizes(model) if first else "",
                te["id"],
                te.get("mode", "—"),  # a server from before PD disaggregation does not say
                te["state"],
                str(te["pid"] or te.get("actor") or "—"),  # a Ray actor on another node has no pid here
                str(te["in_flight"]),
            )
    out.print(table)
    out.print(
        f"pool: {len(state['pool'])} pre-warmed TE(s) " + " ".join(f"{te['id']}({te['pid']})" for te in state["pool"])
    )


def _serving_mode(model: dict[str, Any]) -> str:
    """`colocated`, or `disaggregated` with the colocated TEs beside its pair (`colocated_tes`)."""
    mode = str(model.get("serving_mode", "colocated"))
    return f"{mode} + {model['colocated_tes']} colocated" if model.get("colocated_tes") else mode


def _sizes(model: dict[str, Any]) -> str:
    """How many TEs the model has, and its bounds: min–max for a colocated model, each group's for a pair
    (P: prefill, D: decode, C: colocated beside them; `min_tes` 0: the whole model may be at zero)."""
    count = len(model["tes"])
    if model.get("serving_mode") != "disaggregated" or not model.get("prefill_tes"):
        return f"{count} ({model['min_tes']}–{model['max_tes']})"
    (p_min, p_max), (d_min, d_max) = model["prefill_tes"], model["decode_tes"]
    groups = f"P {p_min}–{p_max}, D {d_min}–{d_max}" + (
        f", C {model['colocated_tes']}" if model["colocated_tes"] else ""
    )
    return f"{count} ({groups}{', to zero' if model['min_tes'] == 0 else ''})"
