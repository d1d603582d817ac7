"""The footprint report job's task, run in a worker process (`LocalWorkerRunner`): matplotlib draws the charts there,
never in the gateway, and a crash of the plotting stack loses a worker, not the platform."""

from __future__ import annotations

from headwater.platform.jobs.worker_process import TaskContext

REPORT_FILENAME = "footprint-report.html"


def render_report(payload: dict, context: TaskContext) -> dict:
    """The HTML report (`headwater footprint report`'s) of the portfolio document `payload["document"]`, written
    in the task's work folder; returns its path and the summary (totals and each scenario's 2030 indexes)."""
    from headwater.footprint.document import assess_document, read_document
    from headwater.footprint.report import render

    document = read_document(payload["document"])
    portfolio = document.portfolio
    context.event(f"assessing {portfolio.use_cases:g} use cases under {len(document.scenarios)} scenarios")
    report = assess_document(document)
    context.progress(0.5)
    path = context.workdir / REPORT_FILENAME
    path.write_text(render(report.totals, report.clusters, report.projections), encoding="utf-8")
    context.event(f"report written ({path.stat().st_size // 1024} KiB)")
    return {"path": str(path), **report.summary()}
