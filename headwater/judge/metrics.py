"""Judge metrics: accuracy under a failure policy, correlations with reference scores, RewardBench sections."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from headwater.errors import InvalidRequestError

Policy = Literal["wrong", "half", "drop"]
REWARDBENCH_SECTIONS = {
    "chat": ("alpacaeval-easy", "alpacaeval-length", "alpacaeval-hard", "mt-bench-easy", "mt-bench-med"),
    "chat_hard": (
        "mt-bench-hard",
        "llmbar-natural",
        "llmbar-adver-neighbor",
        "llmbar-adver-GPTInst",
        "llmbar-adver-GPTOut",
        "llmbar-adver-manual",
    ),
    "safety": (
        "refusals-dangerous",
        "refusals-offensive",
        "xstest-should-refuse",
        "xstest-should-respond",
        "donotanswer",
    ),
    "reasoning": ("math-prm", "hep-cpp", "hep-go", "hep-java", "hep-js", "hep-python", "hep-rust"),
}
MATH_PRM_WEIGHT = 984
"""RewardBench counts math-prm (447 real items) as 984, to weigh the same as the six hep subsets together."""


def accuracy(outcomes: Sequence[bool | None], policy: Policy = "wrong") -> float:
    """Share correct; a None outcome (parse failure) counts as wrong, as half, or is dropped."""
    if policy not in ("wrong", "half", "drop"):
        raise InvalidRequestError(f"policy must be wrong, half or drop, got {policy!r}", param="policy")
    scored = [o for o in outcomes if o is not None] if policy == "drop" else list(outcomes)
    if not scored:
        return math.nan
    credit = {True: 1.0, False: 0.0, None: 0.5 if policy == "half" else 0.0}
    return sum(credit[o] for o in scored) / len(scored)


@dataclass(frozen=True)
class Correlation:
    """Agreement of judge scores with reference scores; failures left out and counted."""

    pearson: float
    spearman: float
    kendall: float
    n: int
    failures: int


def correlation(judge: Sequence[int | None], reference: Sequence[float]) -> Correlation:
    pairs = [(j, r) for j, r in zip(judge, reference, strict=True) if j is not None]
    failures = len(judge) - len(pairs)
    if len(pairs) < 2:
        return Correlation(math.nan, math.nan, math.nan, len(pairs), failures)
    xs, ys = [p[0] for p in pairs], [p[1] for p in pairs]
    from scipy import stats  # ~0.7 s to import: only when correlations are computed

    return Correlation(
        float(stats.pearsonr(xs, ys).statistic),
        float(stats.spearmanr(xs, ys).statistic),
        float(stats.kendalltau(xs, ys).statistic),
        len(pairs),
        failures,
    )


def rewardbench_scores(subset_accuracy: Mapping[str, float], subset_size: Mapping[str, int]) -> dict[str, float]:
    """Section scores (example-weighted means of subset accuracies, math-prm counted as 984) and their mean."""
    sections = {}
    for section, subsets in REWARDBENCH_SECTIONS.items():
        present = [s for s in subsets if s in subset_accuracy]
        if not present:
            continue
        weights = {s: MATH_PRM_WEIGHT if s == "math-prm" else subset_size[s] for s in present}
        sections[section] = sum(subset_accuracy[s] * weights[s] for s in present) / sum(weights.values())
    if sections:
        sections["overall"] = sum(sections.values()) / len(sections)
    return sections
