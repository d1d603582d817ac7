"""`headwater footprint`: energy, GHG, water, primary energy and ADPe of AI workloads."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from headwater.cli.options import Json
from headwater.errors import HeadwaterError, InvalidRequestError
from headwater.files import write_atomic
from headwater.footprint import (
    CRITERIA,
    CapgeminiEstimator,
    Impacts,
    InferenceWorkload,
    cluster_workload,
    load_factors,
    read_yaml,
)
from headwater.footprint.document import read_document
from headwater.footprint.ecologits import EcologitsEstimator, check_latency
from headwater.footprint.factors import Factors
from headwater.footprint.portfolio import Portfolio, assess, total
from headwater.footprint.scenarios import Scenario
from headwater.footprint.scenarios import project as projection_of

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


ESTIMATORS = ("capgemini", "ecologits")


@app.command()
def estimate(
    use_case: Annotated[
        str | None, typer.Option(help="A paper cluster: chat, rag or agents (with --size); tabular, vision or nlp.")
    ] = None,
    size: Annotated[str | None, typer.Option(help="Model size of a GenAI cluster: 8B, 70B or 405B.")] = None,
    model_params: Annotated[float | None, typer.Option(help="Parameters of your model, e.g. 70e9.")] = None,
    input_tokens: Annotated[float, typer.Option(help="Prompt tokens per LLM call.")] = 126.89,
    output_tokens: Annotated[float, typer.Option(help="Generated tokens per LLM call.")] = 208.45,
    llm_calls: Annotated[float, typer.Option(help="LLM calls per request (agents make several).")] = 1.0,
    nlp_calls: Annotated[float, typer.Option(help="Traditional NLP inferences per request (tool calls).")] = 0.0,
    region: Annotated[
        str, typer.Option(help="Grid: portfolio (45% US, 28% EU, 27% APAC), usa, eu27, china, or a country (FRA).")
    ] = ("portfolio"),
    estimator: Annotated[str, typer.Option(help="capgemini (the paper) or ecologits (their method).")] = "capgemini",
    factors: Annotated[Path | None, typer.Option(help="YAML file of factor overrides (e.g. pue: 1.1).")] = None,
    latency: Annotated[
        float | None,
        typer.Option(
            metavar="SECONDS",
            help="Measured latency of the whole request (ecologits only): generation time is capped at it, as "
            "EcoLogits does.",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.")] = False,
) -> None:
    """Impacts of one inference: a paper cluster (--use-case chat --size 70B, --use-case vision) or your own
    LLM workload (--model-params 70e9 --output-tokens 208; with --estimator ecologits, --latency 1.2 for a request
    measured at 1.2 s)."""
    try:
        if estimator not in ESTIMATORS:
            raise InvalidRequestError(f"unknown estimator {estimator!r}; allowed: {', '.join(ESTIMATORS)}")
        if latency is not None and estimator != "ecologits":
            raise InvalidRequestError(
                "--latency applies to --estimator ecologits only (capgemini takes latency from the paper's table)",
                param="latency",
            )
        check_latency(latency, name="--latency")
        table = load_factors(overrides=read_yaml(factors) if factors else None)
        if use_case is not None and model_params is None:
            workload = cluster_workload(use_case.lower(), size.upper() if size else None, region)
            title = f"one {use_case} inference" + (f", {size}" if size else "")
        elif model_params is not None and use_case is None and size is None:
            workload = InferenceWorkload(
                model_params, input_tokens, output_tokens, llm_calls=llm_calls, nlp_calls=nlp_calls, region=region
            )
            title = f"one inference, {model_params:.3g} parameters"
        else:
            raise InvalidRequestError("give --use-case (with --size for chat, rag, agents) or --model-params")
        if estimator == "ecologits":
            if not isinstance(workload, InferenceWorkload):
                raise InvalidRequestError("the ecologits estimator covers LLM inferences only", param="use_case")
            impacts = EcologitsEstimator(table).estimate(workload, request_latency=latency)
        else:
            impacts = CapgeminiEstimator(table).estimate(workload)
    except HeadwaterError as error:
        err.print(f"[red]error:[/] {error.message}")
        raise typer.Exit(2) from None
    _print(impacts, title, as_json)


def _load_file(path: Path | None) -> tuple[Portfolio, Factors, dict[str, Scenario]]:
    """A portfolio file (`headwater.footprint.document`): portfolio keys, plus optional `factors:` overrides and
    `scenarios:` (name → levers)."""
    document = read_document(read_yaml(path) if path is not None else {})
    return document.portfolio, document.factors, document.scenarios


PortfolioFile = Annotated[
    Path | None,
    typer.Argument(
        help="YAML portfolio (keys of headwater.footprint.Portfolio, optional factors: and scenarios:); "
        "default: the paper's portfolio."
    ),
]


@app.command()
def portfolio(file: PortfolioFile = None, as_json: Json = False) -> None:
    """Yearly impacts of an AI portfolio, per cluster and in total (default: the paper's 100 use cases)."""
    try:
        owned, table, _scenarios = _load_file(file)
        clusters = assess(owned, CapgeminiEstimator(table))
    except HeadwaterError as error:
        err.print(f"[red]error:[/] {error.message}")
        raise typer.Exit(2) from None
    totals = total(clusters)
    genai = sum(c.impacts["energy_kwh"].value for c in clusters if c.size is not None)
    share = genai / totals["energy_kwh"].value if totals["energy_kwh"].value else 0.0
    if as_json:
        rows = [
            {
                "use_case": c.use_case,
                "size": c.size,
                "use_cases": c.use_cases,
                "yearly_requests": c.yearly_requests,
                **{k: c.impacts[k].value for k in CRITERIA},
            }
            for c in clusters
        ]
        print(json.dumps({**totals.to_dict(), "genai_energy_share": share, "clusters": rows}))
        return
    table_view = Table(
        "use case",
        "size",
        "use cases",
        "requests/yr",
        *(f"{k} ({UNITS[k]})" for k in CRITERIA),
        title="Yearly impacts of the portfolio",
    )
    for c in clusters:
        table_view.add_row(
            c.use_case,
            c.size or "—",
            f"{c.use_cases:.2f}",
            f"{c.yearly_requests:.3g}",
            *(f"{c.impacts[k].value:.3g}" for k in CRITERIA),
        )
    table_view.add_row("[bold]total[/]", "", "", "", *(f"[bold]{totals[k].value:.3g}[/]" for k in CRITERIA))
    out.print(table_view)
    out.print(f"GenAI share of energy: {share:.2%}")


@app.command()
def project(file: PortfolioFile = None, as_json: Json = False) -> None:
    """2030 indexes (2024 = 100) of the portfolio under each scenario (default: the paper's five)."""
    try:
        owned, table, scenarios = _load_file(file)
        projections = [projection_of(owned, table, scenario) for scenario in scenarios.values()]
    except HeadwaterError as error:
        err.print(f"[red]error:[/] {error.message}")
        raise typer.Exit(2) from None
    if as_json:
        print(json.dumps({"scenarios": {p.scenario: p.index for p in projections}}))
        return
    view = Table("scenario", *CRITERIA, title="2030 indexes (2024 = 100)")
    for p in projections:
        view.add_row(p.scenario, *(f"{p.index[k]:.0f}" for k in CRITERIA))
    out.print(view)


@app.command()
def report(
    file: PortfolioFile = None,
    out_path: Annotated[Path, typer.Option("--out", help="HTML file to write.")] = Path("footprint-report.html"),
    as_json: Json = False,
) -> None:
    """An HTML report with charts: yearly totals, the split by use case and the 2030 scenarios."""
    from headwater.footprint.report import render

    try:
        owned, table, scenarios = _load_file(file)
        clusters = assess(owned, CapgeminiEstimator(table))
        projections = [projection_of(owned, table, scenario) for scenario in scenarios.values()]
    except HeadwaterError as error:
        err.print(f"[red]error:[/] {error.message}")
        raise typer.Exit(2) from None
    page = render(total(clusters), clusters, projections)
    write_atomic(out_path, page)
    if as_json:
        print(json.dumps({"out": str(out_path), "bytes": len(page.encode()), **total(clusters).to_dict()}))
        return
    err.print(f"wrote {out_path} ({len(page) // 1024} KiB)")
