"""Judge: Selene-style absolute, pairwise and classification judging over any Generator, with robust parsing."""

from headwater.judge.judge import Judge, Judgement
from headwater.judge.parse import FAILURES, Parsed, Scale, parse
from headwater.judge.tasks import TEMPLATE_VERSION, AbsoluteTask, ClassificationTask, PairwiseTask

__all__ = [
    "FAILURES",
    "TEMPLATE_VERSION",
    "AbsoluteTask",
    "ClassificationTask",
    "Judge",
    "Judgement",
    "PairwiseTask",
    "Parsed",
    "Scale",
    "parse",
]
