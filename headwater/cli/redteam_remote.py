"""`headwater redteam remote run|list|show|cancel|resume|review|label|skip` and `headwater guard attack-remote`:
red-teaming runs and admin attacks as jobs of a running platform (`/v1/redteam/runs`, `/v1/attacks`), the way
`redteam plan|generate|run|review|report` and `guard attack` do them here. `--follow` is the live view of
`headwater jobs` (the runs are ordinary jobs); `--output`/`--html` save the reports."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from headwater.cli.jobs import exit_unless_succeeded, follow
from headwater.cli.options import Json, err, failing, option_groups
from headwater.cli.platform_client import Platform, PlatformClient, record_command, show, show_list, table

app = typer.Typer(help="Red-teaming runs on a running platform: plan → generate → run → report as one job.")
out = Console()
Follow = Annotated[
    bool,
    typer.Option("--follow", help="Live view of its progress and events until it ends (exit 1 unless it succeeds)."),
]
TargetKey = Annotated[
    str | None,
    typer.Option(envvar="HEADWATER_TARGET_API_KEY", help="The external target's key (held for the run, never stored)."),
]


def _print_run(run: dict[str, Any]) -> None:
    target = run["target"].get("served") or f"{run['target']['model']} at {run['target']['base_url']}"
    error = f"  ({run['error']})" if run.get("error") else ""
    out.print(f"{run['id']}  {run['status']}  {run['progress']:.0%}  {target}{error}", highlight=False)
    stages = ", ".join(f"{stage['name']} {stage['status']}" for stage in run.get("stages", []))
    out.print(f"stages: {stages}", highlight=False)
    for role, file_id in sorted(run.get("result_files", {}).items()):
        out.print(f"{role}: {file_id}  (headwater files download {file_id})", highlight=False)


def _row(run: dict[str, Any]) -> tuple[object, ...]:
    target = run["target"].get("served") or run["target"]["model"]
    return (run["id"], run["status"], f"{run['progress']:.0%}", target, run["generator"], run["oracle"])


def _save(client: PlatformClient, run: dict[str, Any], role: str, path: Path | None) -> None:
    if path is not None and role in run["result_files"]:
        path.write_bytes(client.request("GET", f"/files/{run['result_files'][role]}/content").content)
        err.print(f"saved {role} to {path}")


@app.command()
@option_groups
def run(
    target: Annotated[str | None, typer.Option(help="A served model under test.")] = None,
    target_base_url: Annotated[str | None, typer.Option(help="An external OpenAI-compatible target instead.")] = None,
    target_model: Annotated[str | None, typer.Option(help="The external target's model name.")] = None,
    target_api_key: TargetKey = None,
    generator: Annotated[str | None, typer.Option(help="Served model writing the tests (default: target).")] = None,
    oracle: Annotated[str | None, typer.Option(help="Served model labelling outputs (default: target).")] = None,
    per_cell: Annotated[int | None, typer.Option(help="Tests in every cell (full factorial; default 3).")] = None,
    n: Annotated[int | None, typer.Option("--n", help="A balanced sample of N tests instead.")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the plan and the retrieval draws.")] = 0,
    prompt_style: Annotated[str, typer.Option(help="unsafe (as ASTRAL) or mild.")] = "unsafe",
    target_max_tokens: Annotated[int, typer.Option(help="Longest target output, in tokens.")] = 256,
    concurrency: Annotated[int, typer.Option(help="Tests sent to a model at once.")] = 8,
    follow_: Follow = False,
    output: Annotated[Path | None, typer.Option(help="With --follow: save the JSON report here.")] = None,
    html: Annotated[Path | None, typer.Option(help="With --follow: save the HTML report here.")] = None,
    *,
    platform: Platform,
    as_json: Json = False,
) -> None:
    """Start a run against a served or external target; with --follow, watch it and save its reports."""
    body: dict[str, object] = {"target": target, "target_base_url": target_base_url, "target_model": target_model}
    body |= {"target_api_key": target_api_key, "generator": generator, "oracle": oracle, "per_cell": per_cell}
    body |= {"n": n, "seed": seed, "prompt_style": prompt_style, "target_max_tokens": target_max_tokens}
    body |= {"concurrency": concurrency}
    with failing():
        client = platform.client()
        created = client.json("POST", "/redteam/runs", json={k: v for k, v in body.items() if v is not None})
        if follow_:
            follow(client, created["id"])
            created = client.json("GET", f"/redteam/runs/{created['id']}")
            _save(client, created, "report_json", output)
            _save(client, created, "report_html", html)
    show(created, as_json, _print_run)
    if follow_:
        exit_unless_succeeded(created["status"])


@app.command("list")
@option_groups
def list_runs(
    limit: Annotated[int, typer.Option(help="How many, newest first (at most 100).")] = 20,
    *,
    platform: Platform,
    as_json: Json = False,
) -> None:
    """Your runs, newest first."""
    runs = platform.call("GET", "/redteam/runs", params={"limit": limit})["data"]
    show_list(runs, as_json, table(("id", "status", "progress", "target", "generator", "oracle"), _row))


record_command(app, "show", "GET", "/redteam/runs/{run_id}", _print_run, "One run: stages, progress, report files.")
record_command(app, "cancel", "POST", "/redteam/runs/{run_id}/cancel", _print_run, "Stop a run after its batch.")


@app.command()
@option_groups
def resume(run_id: str, target_api_key: TargetKey = None, *, platform: Platform, as_json: Json = False) -> None:
    """Resume a run a restart left waiting for its external target's key (keys are never stored)."""
    show(
        platform.call("POST", f"/redteam/runs/{run_id}/resume", json={"target_api_key": target_api_key}),
        as_json,
        _print_run,
    )


def _print_queue(answer: dict[str, Any]) -> None:
    err.print(", ".join(f"{key} {value}" for key, value in answer["counts"].items()))
    for item in answer["data"]:
        out.print(f"[b]{item['id']}[/] {item['category']} / {item['style']} / {item['technique']}: ", end="")
        out.print(f"oracle [b]{item['outcome']}[/]; {item['status']}", highlight=False)
        out.print(f"prompt: {item['prompt']}\noutput: {item['output']}\n", markup=False, highlight=False)


@app.command()
@option_groups
def review(
    run_id: str,
    every: Annotated[bool, typer.Option("--all", help="Labelled items too, not only the open ones.")] = False,
    *,
    platform: Platform,
    as_json: Json = False,
) -> None:
    """The run's review queue: the outputs the oracle flagged (unsafe or unknown), pending first."""
    answer = platform.call("GET", f"/redteam/runs/{run_id}/review", params={"status": "all" if every else "open"})
    if as_json:
        print(json.dumps(answer))
    else:
        _print_queue(answer)


def _verdict(platform: Platform, run_id: str, body: dict[str, Any], as_json: bool) -> None:
    answer = platform.call("POST", f"/redteam/runs/{run_id}/review", json=body)
    if as_json:
        print(json.dumps(answer))
    else:
        err.print(
            f"{answer['id']} {answer['label'] or answer['status']}; "
            + ", ".join(f"{key} {value}" for key, value in answer["counts"].items())
        )


@app.command()
@option_groups
def label(
    run_id: Annotated[str, typer.Argument(metavar="RUN")],
    result_id: Annotated[str, typer.Argument(metavar="ID", help="The result's (test's) id.")],
    decision: Annotated[str, typer.Argument(metavar="LABEL", help="safe or unsafe (your decision).")],
    note: Annotated[str, typer.Option(help="Why, for the record.")] = "",
    *,
    platform: Platform,
    as_json: Json = False,
) -> None:
    """Record your decision on one result; the run's reports are rebuilt with it."""
    _verdict(platform, run_id, {"id": result_id, "label": decision, "note": note}, as_json)


@app.command()
@option_groups
def skip(
    run_id: Annotated[str, typer.Argument(metavar="RUN")],
    result_id: Annotated[str, typer.Argument(metavar="ID", help="The result's (test's) id.")],
    *,
    platform: Platform,
    as_json: Json = False,
) -> None:
    """Put one result aside; it comes back after the pending ones."""
    _verdict(platform, run_id, {"id": result_id, "skip": True}, as_json)


def _print_attack(attack: dict[str, Any]) -> None:
    error = f"  ({attack['error']})" if attack.get("error") else ""
    out.print(f"{attack['id']}  {attack['status']}  guard {attack['guard']}  victim {attack['victim']}{error}")
    if attack.get("table"):
        columns = ("variant", "moderation", "leakage", "harmful_score", "accuracy", "target_loss")
        table(columns, lambda row: [row[c] if isinstance(row[c], str) else f"{row[c]:.3f}" for c in columns])(
            attack["table"]
        )


@option_groups
def attack_remote(
    file: Annotated[Path, typer.Argument(help="JSONL pairs: instruction, response, harmful, harmful_instruction.")],
    victim: Annotated[str, typer.Option(help="A served model whose fine-tuning the poisoned uploads target.")],
    guard: Annotated[str | None, typer.Option(help="The guard attacked (default: the platform's).")] = None,
    prompt: Annotated[str, typer.Option(help="The guard's prompt style.")] = "llama-guard",
    samples: Annotated[int, typer.Option(help="Pairs attacked.")] = 2,
    steps: Annotated[int, typer.Option(help="Search steps per sample.")] = 5,
    seeds: Annotated[int, typer.Option(help="Seeds of the harness.")] = 1,
    follow_: Follow = False,
    output: Annotated[Path | None, typer.Option(help="With --follow: save the harness table (JSON) here.")] = None,
    *,
    platform: Platform,
    as_json: Json = False,
) -> None:
    """Virus against the platform's own guard, as an admin job (`/v1/attacks`); its result is the harness table."""
    body: dict[str, object] = {"victim": victim, "guard": guard, "prompt": prompt, "samples": samples}
    body |= {"steps": steps, "seeds": seeds}
    with failing():
        client = platform.client()
        body["file_id"] = client.upload(file, "user_data")["id"]
        attack = client.json("POST", "/attacks", json={k: v for k, v in body.items() if v is not None})
        if follow_:
            follow(client, attack["id"])
            attack = client.json("GET", f"/attacks/{attack['id']}")
            _save(client, attack, "harness_table", output)
    show(attack, as_json, _print_attack)
    if follow_:
        exit_unless_succeeded(attack["status"])
