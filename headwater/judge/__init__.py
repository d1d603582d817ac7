"""Judge: absolute, pairwise and classification judging (Selene Mini's tasks) over any Generator, robustly parsed."""

from headwater.judge.bench import bench
from headwater.judge.judge import Judge, Judgement
from headwater.judge.metrics import accuracy, correlation, rewardbench_scores
from headwater.judge.parse import FAILURES, Parsed, Scale, parse
from headwater.judge.tasks import TEMPLATE_VERSION, AbsoluteTask, ClassificationTask, PairwiseTask
from headwater.judge.templates import atla_template
from headwater.judge.training import JudgeTrainConfig, LabelledItem, critique_pairs, train_judge

__all__ = [
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
