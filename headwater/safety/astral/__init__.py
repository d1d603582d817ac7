"""ASTRAL-style automated safety testing: plan -> generate -> execute -> oracle -> human review -> report.

After Ugarte et al., "ASTRAL: Automated Safety Testing of Large Language Models" (arXiv 2501.17132) and Arrieta et
al.'s o3-mini external test (arXiv 2501.17749). Every LLM role (test writer, target, oracle) is a `Generator`.
No harmful text ships with it: the few-shot file holds benign placeholders; users bring their own corpora.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from headwater._lazy import lazy_exports

if TYPE_CHECKING:
    from headwater.safety.astral.calls import CallResult, call_isolated
    from headwater.safety.astral.campaign import (
        PLAN_FIELDS,
        GenerateConfig,
        PreparedGeneration,
        RunConfig,
        generate_planned,
        prepare_generation,
        run_planned,
    )
    from headwater.safety.astral.embeddings import hf_embedder
    from headwater.safety.astral.execute import OUTCOMES, RunReport, run_tests
    from headwater.safety.astral.generate import GenerateReport, GenerationOptions, build_prompt, generate_tests
    from headwater.safety.astral.html_report import render_html
    from headwater.safety.astral.oracle import Oracle, OracleVerdict, parse_oracle_reply
    from headwater.safety.astral.planner import PlannedTest, plan_tests
    from headwater.safety.astral.records import finished_records, read_records
    from headwater.safety.astral.report import build_report
    from headwater.safety.astral.review import ReviewItem, ReviewQueue, labels_path_for, read_labels
    from headwater.safety.astral.sources import FewShot, Retriever, load_feed, load_fewshot
    from headwater.safety.astral.taxonomy import Taxonomy, default_taxonomy, load_taxonomy

_EXPORTS = {
    "CallResult": "headwater.safety.astral.calls",
    "FewShot": "headwater.safety.astral.sources",
    "GenerateConfig": "headwater.safety.astral.campaign",
    "GenerateReport": "headwater.safety.astral.generate",
    "GenerationOptions": "headwater.safety.astral.generate",
    "OUTCOMES": "headwater.safety.astral.execute",
    "PLAN_FIELDS": "headwater.safety.astral.campaign",
    "Oracle": "headwater.safety.astral.oracle",
    "OracleVerdict": "headwater.safety.astral.oracle",
    "PlannedTest": "headwater.safety.astral.planner",
    "PreparedGeneration": "headwater.safety.astral.campaign",
    "Retriever": "headwater.safety.astral.sources",
    "ReviewItem": "headwater.safety.astral.review",
    "ReviewQueue": "headwater.safety.astral.review",
    "RunConfig": "headwater.safety.astral.campaign",
    "RunReport": "headwater.safety.astral.execute",
    "Taxonomy": "headwater.safety.astral.taxonomy",
    "build_prompt": "headwater.safety.astral.generate",
    "build_report": "headwater.safety.astral.report",
    "call_isolated": "headwater.safety.astral.calls",
    "default_taxonomy": "headwater.safety.astral.taxonomy",
    "finished_records": "headwater.safety.astral.records",
    "generate_planned": "headwater.safety.astral.campaign",
    "generate_tests": "headwater.safety.astral.generate",
    "hf_embedder": "headwater.safety.astral.embeddings",
    "labels_path_for": "headwater.safety.astral.review",
    "load_feed": "headwater.safety.astral.sources",
    "load_fewshot": "headwater.safety.astral.sources",
    "load_taxonomy": "headwater.safety.astral.taxonomy",
    "parse_oracle_reply": "headwater.safety.astral.oracle",
    "plan_tests": "headwater.safety.astral.planner",
    "prepare_generation": "headwater.safety.astral.campaign",
    "read_labels": "headwater.safety.astral.review",
    "read_records": "headwater.safety.astral.records",
    "render_html": "headwater.safety.astral.html_report",
    "run_planned": "headwater.safety.astral.campaign",
    "run_tests": "headwater.safety.astral.execute",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())

__all__ = [
    "OUTCOMES",
    "PLAN_FIELDS",
    "CallResult",
    "FewShot",
    "GenerateConfig",
    "GenerateReport",
    "GenerationOptions",
    "Oracle",
    "OracleVerdict",
    "PlannedTest",
    "PreparedGeneration",
    "Retriever",
    "ReviewItem",
    "ReviewQueue",
    "RunConfig",
    "RunReport",
    "Taxonomy",
    "build_prompt",
    "build_report",
    "call_isolated",
    "default_taxonomy",
    "finished_records",
    "generate_planned",
    "generate_tests",
    "hf_embedder",
    "labels_path_for",
    "load_feed",
    "load_fewshot",
    "load_taxonomy",
    "parse_oracle_reply",
    "plan_tests",
    "prepare_generation",
    "read_labels",
    "read_records",
    "render_html",
    "run_planned",
    "run_tests",
]
