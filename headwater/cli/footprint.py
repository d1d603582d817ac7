"""`headwater footprint`: energy, GHG, water, primary energy and ADPe of AI workloads."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from headwater.errors import HeadwaterError
from headwater.footprint import (
    CRITERIA,
    CapgeminiEstimator,
    Impacts,
    InferenceWorkload,
    cluster_workload,
    load_factors,
    read_yaml,
)

app = typer.Typer(help="Environmental footprint of AI workloads (Capgemini LCA method).", no_args_is_help=True)
out = Console()
err = Console(stderr=True)
UNITS = {"energy_kwh": "kWh", "gwp_kgco2e": "kg CO2e", "water_m3eq": "m³ eq", "pe_mj": "MJ", "adpe_kgsbeq": "kg Sb eq"}


def _print(impacts: Impacts, title: str, as_json: bool) -> None:
    if as_json:
        print(json.dumps(impacts.to_dict()))
        return
    table = Table("criterion", "value", "low", "high", "unit", title=f"{title} — estimator: {impacts.estimator}")
    for criterion in CRITERIA:
        value = impacts[criterion]
        table.add_row(criterion, f"{value.value:.3e}", f"{value.low:.3e}", f"{value.high:.3e}", UNITS[criterion])
    out.print(table)


@app.command()
def estimate(
    use_case: Annotated[str | None, typer.Option(help="A paper cluster: chat, rag or agents (with --size).")] = None,
    size: Annotated[str | None, typer.Option(help="Model size of the cluster: 8B, 70B or 405B.")] = None,
    model_params: Annotated[float | None, typer.Option(help="Parameters of the model, e.g. 70e9.")] = None,
    input_tokens: Annotated[float, typer.Option(help="Prompt tokens per request.")] = 126.89,
    output_tokens: Annotated[float, typer.Option(help="Generated tokens per request.")] = 208.45,
    llm_calls: Annotated[float, typer.Option(help="LLM calls per request (agents make several).")] = 1.0,
    region: Annotated[str, typer.Option(help="Grid: portfolio (45% US, 28% EU, 27% APAC), usa, eu27, china.")] = (
        "portfolio"
    ),
    factors: Annotated[Path | None, typer.Option(help="YAML file of factor overrides (e.g. pue: 1.1).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.")] = False,
) -> None:
    """Impacts of one inference: a paper cluster (--use-case chat --size 70B) or your own workload
    (--model-params 70e9 --output-tokens 208)."""
    try:
        table = load_factors(overrides=read_yaml(factors) if factors else None)
        if use_case is not None or size is not None:
            if use_case is None or size is None or model_params is not None:
                raise typer.BadParameter("give --use-case with --size, or --model-params, not both")
            workload = cluster_workload(use_case.lower(), size.upper(), region)
            title = f"one {use_case} inference, {size}"
        elif model_params is not None:
            workload = InferenceWorkload(model_params, input_tokens, output_tokens, llm_calls, region)
            title = f"one inference, {model_params:.3g} parameters"
        else:
            raise typer.BadParameter("give --use-case and --size, or --model-params")
        impacts = CapgeminiEstimator(table).estimate(workload)
    except HeadwaterError as error:
        err.print(f"[red]error:[/] {error.message}")
        raise typer.Exit(2) from None
    _print(impacts, title, as_json)
