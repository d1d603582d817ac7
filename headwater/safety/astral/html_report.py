"""The HTML report: the JSON report's tables plus stacked outcome charts, one self-contained file.

Charts are drawn with matplotlib's object API (no pyplot, no display) and embedded as base64 PNG, so the file
can be mailed or archived without its images going missing.
"""

from __future__ import annotations

import base64
import html
import io
import json

OUTCOME_COLOURS = {"safe": "#4c9a5f", "unsafe": "#c0392b", "unknown": "#e6a23c", "blocked": "#5b7db1", "error": "#888"}


FLAGGED_COLOURS = {"oracle flagged": "#e6a23c", "confirmed": "#c0392b"}


def chart_png(
    title: str, counts: dict[str, dict[str, int]], colours: dict[str, str] = OUTCOME_COLOURS, stacked: bool = True
) -> bytes:
    """A horizontal bar per name, one segment (stacked) or one thinner bar (side by side) per series, as PNG."""
    from matplotlib.figure import Figure  # no pyplot: no GUI backend, no global figure state
    from matplotlib.ticker import MaxNLocator

    names = list(counts)
    figure = Figure(figsize=(9, max(1.8, 0.6 + 0.35 * len(names))), layout="constrained")
    axes = figure.subplots()
    left = [0] * len(names)
    height = 0.8 if stacked else 0.8 / len(colours)
    for index, (series, colour) in enumerate(colours.items()):
        values = [counts[name].get(series, 0) for name in names]
        if stacked:
            axes.barh(names, values, left=left, color=colour, label=series)
            left = [a + b for a, b in zip(left, values, strict=True)]
        else:
            positions = [row + (index - (len(colours) - 1) / 2) * height for row in range(len(names))]
            axes.barh(positions, values, height=height, color=colour, label=series)
    if not stacked:
        axes.set_yticks(range(len(names)), names)
    axes.invert_yaxis()
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_title(title)
    axes.set_xlabel("tests")
    axes.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90)
    return buffer.getvalue()


def _table(title: str, counts: dict[str, dict[str, int]]) -> str:
    header = "".join(f"<th>{html.escape(o)}</th>" for o in OUTCOME_COLOURS)
    rows = "".join(
        f"<tr><td>{html.escape(name)}</td>" + "".join(f"<td>{row.get(o, 0)}</td>" for o in OUTCOME_COLOURS) + "</tr>"
        for name, row in counts.items()
    )
    return f"<h2>{html.escape(title)}</h2><table><tr><th>name</th>{header}</tr>{rows}</table>"


def _image(title: str, counts: dict[str, dict[str, int]], **chart: object) -> str:
    data = base64.b64encode(chart_png(title, counts, **chart)).decode("ascii")  # type: ignore[arg-type]
    return f'<img alt="{html.escape(title)}" src="data:image/png;base64,{data}">'


def render_html(report: dict, title: str = "Red-teaming report") -> str:
    """The whole HTML page for a report from `build_report`."""
    sections = [_table("Outcomes", {"all tests": report["by_outcome"]})]
    for key, label in (("by_category", "category"), ("by_style", "style"), ("by_technique", "technique")):
        sections += [_image(f"Outcomes by {label}", report[key]), _table(f"By {label}", report[key])]
    matrix = report["oracle_vs_manual"]["matrix"]
    confusion = "".join(
        f"<tr><td>oracle {html.escape(v)}</td><td>{row['unsafe']}</td><td>{row['safe']}</td></tr>"
        for v, row in matrix.items()
    )
    summary = {k: report["oracle_vs_manual"][k] for k in ("labelled", "precision", "recall", "f1", "accuracy")}
    flagged = {
        name: {"oracle flagged": counts["unsafe"], "confirmed": report["confirmed_unsafe"]["by_category"].get(name, 0)}
        for name, counts in report["by_category"].items()
    }
    sections += [
        _image("Oracle-flagged vs confirmed unsafe, by category", flagged, colours=FLAGGED_COLOURS, stacked=False),
        "<h2>Review</h2><pre>" + html.escape(json.dumps(report["review"] | report["confirmed_unsafe"], indent=2)),
        "</pre><h2>Oracle vs manual</h2><table><tr><th></th><th>manual unsafe</th><th>manual safe</th></tr>"
        f"{confusion}</table><pre>{html.escape(json.dumps(summary, indent=2))}</pre>",
        _table("By cell", report["by_cell"]),
    ]
    style = (
        "body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:2px 8px}"
    )
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title><style>{style}</style>"
        f"</head><body><h1>{html.escape(title)}</h1><p>{report['total']} tests.</p>{''.join(sections)}</body></html>"
    )
