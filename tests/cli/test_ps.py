"""`headwater ps` against a fake platform (httpx.get answered in-process): each TE's mode, each model's serving mode
and colocated TEs, and the bounds of a disaggregated model's groups, in the table; the JSON passed through."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from rich.console import Console
from typer.testing import CliRunner

from headwater.cli import app
from headwater.cli import ps as ps_command

runner = CliRunner()


def _te(te_id: str, mode: str, in_flight: int = 0) -> dict[str, Any]:
    return {
        "id": te_id,
        "state": "ready",
        "mode": mode,
        "pid": 100 + int(te_id[3:]),
        "actor": None,
        "in_flight": in_flight,
    }


STATE = {
    "models": [
        {"name": "colo", "model": "tiny-chat", "min_tes": 1, "max_tes": 2, "serving_mode": "colocated",
         "colocated_tes": 0, "prefill_tes": None, "decode_tes": None, "tes": [_te("te-1", "colocated", 3)]},
        {"name": "pd", "model": "tiny-chat", "min_tes": 1, "max_tes": 1, "serving_mode": "disaggregated",
         "colocated_tes": 1, "prefill_tes": [1, 2], "decode_tes": [1, 3],
         "tes": [_te("te-2", "prefill"), _te("te-3", "decode", 5), _te("te-4", "decode"), _te("te-5", "colocated")]},
        {"name": "pd-zero", "model": "tiny-chat", "min_tes": 0, "max_tes": 1, "serving_mode": "disaggregated",
         "colocated_tes": 0, "prefill_tes": [1, 1], "decode_tes": [1, 2], "tes": []},
    ],
    "pool": [{"id": "te-9", "state": "pooled", "pid": 109, "actor": None}],
}  # fmt: skip


@pytest.fixture
def platform(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """/v1/admin/executors answered with STATE; the table printed wide enough not to wrap."""
    seen: list[str] = []

    def get(url: str, **kwargs: Any) -> httpx.Response:
        seen.append(url)
        return httpx.Response(200, json=STATE, request=httpx.Request("GET", url))

    monkeypatch.setattr(httpx, "get", get)
    monkeypatch.setattr(ps_command, "out", Console(width=250))
    return seen


def _rows(text: str) -> dict[str, list[str]]:
    """The table's body rows by TE id, cell by cell."""
    rows = {}
    for line in text.splitlines():
        cells = [cell.strip() for cell in line.split("│")[1:-1]]
        if len(cells) == 9 and cells[4].startswith(("te-", "—")):
            rows[cells[4]] = cells
    return rows


def test_ps_shows_each_te_mode_and_each_model_serving_mode(platform):
    result = runner.invoke(app, ["ps", "--base-url", "http://platform/v1", "--api-key", "k"])
    assert result.exit_code == 0, result.output
    assert platform == ["http://platform/v1/admin/executors"]
    rows = _rows(result.stdout)
    assert {te: cells[5] for te, cells in rows.items()} == {
        "te-1": "colocated", "te-2": "prefill", "te-3": "decode", "te-4": "decode", "te-5": "colocated", "—": "—",
    }  # fmt: skip
    assert rows["te-1"][:4] == ["colo", "tiny-chat", "colocated", "1 (1–2)"]
    assert rows["te-2"][:4] == ["pd", "tiny-chat", "disaggregated + 1 colocated", "4 (P 1–2, D 1–3, C 1)"]
    assert rows["—"][:4] == ["pd-zero", "tiny-chat", "disaggregated", "0 (P 1–1, D 1–2, to zero)"]
    assert rows["—"][6] == "at zero" and rows["te-3"][8] == "5"
    assert "pool: 1 pre-warmed TE(s) te-9(109)" in result.stdout


def test_ps_json_passes_the_state_through(platform):
    result = runner.invoke(app, ["ps", "--json", "--base-url", "http://platform/v1", "--api-key", "k"])
    assert result.exit_code == 0, result.output
    state = json.loads(result.stdout)
    pd = next(model for model in state["models"] if model["name"] == "pd")
    assert (pd["serving_mode"], pd["colocated_tes"]) == ("disaggregated", 1)
    assert [te["mode"] for te in pd["tes"]] == ["prefill", "decode", "decode", "colocated"]
