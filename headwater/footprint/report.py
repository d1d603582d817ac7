"""An HTML report of a portfolio: yearly totals, the per-use-case split and the 2030 scenarios, with charts.

Charts are matplotlib PNGs embedded in the page (one self-contained file to send around).
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Iterable
from typing import TYPE_CHECKING

from headwater.footprint.impacts import CRITERIA, Impacts
from headwater.footprint.portfolio import ClusterImpacts
from headwater.footprint.scenarios import Projection

if TYPE_CHECKING:  # matplotlib is imported by the charts that draw
    from matplotlib.figure import Figure

UNITS = {"energy_kwh": "kWh", "gwp_kgco2e": "kg CO2e", "water_m3eq": "m³ eq", "pe_mj": "MJ", "adpe_kgsbeq": "kg Sb eq"}


def _png(figure: Figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    return base64.b64encode(buffer.getvalue()).decode()


def split_chart(clusters: Iterable[ClusterImpacts]) -> str:
    """Share of each use case in each criterion, as stacked horizontal bars (base64 PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    clusters = list(clusters)
    use_cases = sorted({c.use_case for c in clusters})
    totals = {k: sum(c.impacts[k].value for c in clusters) or 1.0 for k in CRITERIA}
    figure, axis = plt.subplots(figsize=(8, 3.2))
    left = [0.0] * len(CRITERIA)
    for use_case in use_cases:
        shares = [sum(c.impacts[k].value for c in clusters if c.use_case == use_case) / totals[k] for k in CRITERIA]
        axis.barh(list(CRITERIA), shares, left=left, label=use_case)
        left = [a + b for a, b in zip(left, shares, strict=True)]
    axis.set_xlabel("share of the portfolio's yearly impact")
    axis.legend(ncol=len(use_cases), fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.25))
    png = _png(figure)
    plt.close(figure)
    return png


def scenario_chart(projections: Iterable[Projection]) -> str:
    """2030 indexes (2024 = 100) per scenario and criterion, log scale (base64 PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    projections = list(projections)
    figure, axis = plt.subplots(figsize=(8, 3.6))
    width = 0.8 / len(CRITERIA)
    for offset, criterion in enumerate(CRITERIA):
        positions = [i + offset * width for i in range(len(projections))]
        axis.bar(positions, [p.index[criterion] for p in projections], width=width, label=criterion)
    axis.axhline(100, color="black", linewidth=0.8)
    axis.set_yscale("log")
    axis.set_xticks([i + 0.4 - width / 2 for i in range(len(projections))])
    axis.set_xticklabels([p.scenario.replace("_", "\n") for p in projections], fontsize=8)
    axis.set_ylabel("index, 2024 = 100")
    axis.legend(fontsize=7, ncol=5, loc="upper center", bbox_to_anchor=(0.5, -0.15))
    png = _png(figure)
    plt.close(figure)
    return png


def render(totals: Impacts, clusters: list[ClusterImpacts], projections: list[Projection]) -> str:
    """The whole report as one HTML document."""
    rows = "".join(
        f"<tr><td>{k}</td><td>{totals[k].value:.4g}</td><td>{totals[k].low:.4g} – {totals[k].high:.4g}</td>"
        f"<td>{UNITS[k]}</td></tr>"
        for k in CRITERIA
    )
    scenario_rows = "".join(
        f"<tr><td>{html.escape(p.scenario)}</td>" + "".join(f"<td>{p.index[k]:.0f}</td>" for k in CRITERIA) + "</tr>"
        for p in projections
    )
    header = "".join(f"<th>{k}</th>" for k in CRITERIA)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Headwater footprint report</title>
<style>body{{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}}
table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:.3rem .6rem;text-align:right}}
td:first-child{{text-align:left}}</style></head><body>
<h1>AI portfolio footprint</h1>
<p>Method: Desroches et al., arXiv 2501.14334 (Capgemini Invent), as implemented by Headwater; see
docs/footprint.md for the factors and the choices made where the paper is inconsistent.</p>
<h2>Yearly impacts</h2>
<table><tr><th>criterion</th><th>value</th><th>range (grids)</th><th>unit</th></tr>{rows}</table>
<h2>Split by use case</h2><img alt="split by use case" src="data:image/png;base64,{split_chart(clusters)}">
<h2>2030 scenarios (2024 = 100)</h2>
<table><tr><th>scenario</th>{header}</tr>{scenario_rows}</table>
<img alt="2030 scenarios" src="data:image/png;base64,{scenario_chart(projections)}">
</body></html>
"""
