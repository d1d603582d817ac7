"""Judge: absolute, pairwise and classification judging (Selene Mini's tasks) over any Generator, robustly parsed."""

from __future__ import annotations

from typing import TYPE_CHECKING

from headwater._lazy import lazy_exports

if TYPE_CHECKING:
    from headwater.judge.bench import bench
    from headwater.judge.judge import Judge, Judgement
    from headwater.judge.metrics import accuracy, correlation, rewardbench_scores
    from headwater.judge.parse import FAILURES, Parsed, Scale, parse
    from headwater.judge.tasks import TASK_KINDS, TEMPLATE_VERSION, AbsoluteTask, ClassificationTask, PairwiseTask
    from headwater.judge.templates import Template, atla_template
    from headwater.judge.training import JudgeTrainConfig, LabelledItem, critique_pairs, train_judge

_EXPORTS = {
    "TASK_KINDS": "headwater.judge.tasks",
    "Template": "headwater.judge.templates",
    "AbsoluteTask": "headwater.judge.tasks",
    "ClassificationTask": "headwater.judge.tasks",
    "FAILURES": "headwater.judge.parse",
    "Judge": "headwater.judge.judge",
    "JudgeTrainConfig": "headwater.judge.training",
    "Judgement": "headwater.judge.judge",
    "LabelledItem": "headwater.judge.training",
    "PairwiseTask": "headwater.judge.tasks",
    "Parsed": "headwater.judge.parse",
    "Scale": "headwater.judge.parse",
    "TEMPLATE_VERSION": "headwater.judge.tasks",
    "accuracy": "headwater.judge.metrics",
    "atla_template": "headwater.judge.templates",
    "bench": "headwater.judge.bench",
    "correlation": "headwater.judge.metrics",
    "critique_pairs": "headwater.judge.training",
    "parse": "headwater.judge.parse",
    "rewardbench_scores": "headwater.judge.metrics",
    "train_judge": "headwater.judge.training",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())

__all__ = [
    "TASK_KINDS",
    "Template",
    "FAILURES",
    "TEMPLATE_VERSION",
    "AbsoluteTask",
    "ClassificationTask",
    "Judge",
    "JudgeTrainConfig",
    "Judgement",
    "LabelledItem",
    "PairwiseTask",
    "Parsed",
    "Scale",
    "accuracy",
    "atla_template",
    "bench",
    "correlation",
    "critique_pairs",
    "parse",
    "rewardbench_scores",
    "train_judge",
]
