"""Thresholds at a target false-positive rate, and evaluation at fixed FPRs.

Scores are oriented so that higher means AI (negated when a detector's `higher_is_ai` is False). The threshold
is the lowest one whose FPR on human texts from the target domain stays at or below the target: it flags as
much as it can without exceeding the false-positive budget. With n human texts the smallest measurable FPR is
1/n: below that the achieved FPR is 0 and a warning says the data cannot show the target was met.

A NaN score is a refusal (e.g. an LLM detector's unparseable reply): thresholds ignore it, and `evaluate` leaves it
out of every figure and counts it as `refused`, so a detector cannot look better by refusing hard texts unseen.
"""

from __future__ import annotations

import json
import math
import warnings
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from headwater.errors import InvalidRequestError
from headwater.files import write_atomic


class SmallSampleWarning(UserWarning):
    """Too few human texts to measure an FPR as small as the target."""


def orient(scores: Sequence[float], higher_is_ai: bool) -> list[float]:
    return [s if higher_is_ai else -s for s in scores]


def answered(scores: Sequence[float]) -> list[float]:
    """The scores that are not refusals (NaN)."""
    return [s for s in scores if not math.isnan(s)]


@dataclass(frozen=True)
class Calibration:
    """A saved, reloadable detector configuration with its threshold (on oriented scores: AI if score ≥ it)."""

    detector: str
    models: list[str]
    threshold: float
    target_fpr: float
    achieved_fpr: float
    n_human: int
    higher_is_ai: bool
    settings: dict[str, object]
    date: str

    def is_ai(self, raw_score: float) -> bool:
        return (raw_score if self.higher_is_ai else -raw_score) >= self.threshold

    def save(self, path: Path) -> None:
        write_atomic(path, json.dumps(asdict(self), indent=2))

    @classmethod
    def load(cls, path: Path) -> Calibration:
        try:
            return cls(**json.loads(Path(path).read_text()))
        except (OSError, ValueError, TypeError) as error:
            raise InvalidRequestError(f"{path} is not a saved calibration: {error}", param="calibration") from error


def threshold_at_fpr(human_scores: Sequence[float], target_fpr: float) -> tuple[float, float]:
    """(threshold, achieved FPR) on oriented scores of human texts; NaN (refused) scores are left out."""
    human_scores = answered(human_scores)
    if not human_scores:
        raise InvalidRequestError(
            "calibration needs human-written texts with a score (none, or all refused)", param="human"
        )
    if not 0 < target_fpr < 1:
        raise InvalidRequestError(f"target FPR must be in (0, 1), got {target_fpr}", param="target_fpr")
    ordered = sorted(human_scores, reverse=True)
    allowed = math.floor(target_fpr * len(ordered))
    if 1 / len(ordered) > target_fpr:
        warnings.warn(
            f"{len(ordered)} human texts cannot measure an FPR of {target_fpr:.2%} (the smallest step is "
            f"{1 / len(ordered):.2%}); add human texts from your domain",
            SmallSampleWarning,
            stacklevel=2,
        )
    # flag everything strictly above the (allowed+1)-th highest human score
    threshold = math.nextafter(ordered[allowed], math.inf) if allowed < len(ordered) else ordered[-1]
    achieved = sum(1 for s in ordered if s >= threshold) / len(ordered)
    return threshold, achieved


def calibrate(
    detector_name: str,
    models: list[str],
    human_raw: Sequence[float],
    higher_is_ai: bool,
    target_fpr: float,
    settings: dict[str, object],
) -> Calibration:
    threshold, achieved = threshold_at_fpr(orient(human_raw, higher_is_ai), target_fpr)
    return Calibration(
        detector_name,
        models,
        threshold,
        target_fpr,
        achieved,
        len(answered(human_raw)),
        higher_is_ai,
        settings,
        datetime.now(UTC).isoformat(timespec="seconds"),
    )


def auroc(ai: Sequence[float], human: Sequence[float]) -> float:
    """P(an AI text outscores a human one), ties counted half, on oriented scores."""
    if not ai or not human:
        return math.nan
    wins = sum((a > h) + 0.5 * (a == h) for a in ai for h in human)
    return wins / (len(ai) * len(human))


def tpr_at_fpr(ai: Sequence[float], human: Sequence[float], target_fpr: float) -> tuple[float, float]:
    """(TPR, achieved FPR) at the threshold calibrated on these human scores."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SmallSampleWarning)
        threshold, achieved = threshold_at_fpr(human, target_fpr)
    return sum(1 for a in ai if a >= threshold) / len(ai) if ai else math.nan, achieved


def evaluate(
    scores: Sequence[float], labels: Sequence[str], higher_is_ai: bool, sources: Sequence[str] | None = None
) -> dict[str, object]:
    """TPR at 1 % and 5 % FPR, achieved FPRs and AUROC, overall and per source (labels: "ai" or "human").

    NaN scores (refusals) are dropped from every figure and counted in `refused`."""
    if len(scores) != len(labels):
        raise InvalidRequestError("scores and labels differ in length", param="labels")
    oriented = orient(scores, higher_is_ai)
    unknown = sorted(set(labels) - {"ai", "human"})
    if unknown:
        raise InvalidRequestError(f"labels must be 'ai' or 'human', got {unknown}", param="labels")

    def report(indices: list[int]) -> dict[str, float]:
        ai = answered([oriented[i] for i in indices if labels[i] == "ai"])
        human = answered([oriented[i] for i in indices if labels[i] == "human"])
        refused = len(indices) - len(ai) - len(human)
        result: dict[str, float] = {"n_ai": len(ai), "n_human": len(human), "refused": refused}
        result["auroc"] = auroc(ai, human)
        for target in (0.01, 0.05):
            if human:
                tpr, fpr = tpr_at_fpr(ai, human, target)
                result[f"tpr_at_{round(target * 100)}pct_fpr"], result[f"fpr_at_{round(target * 100)}pct"] = tpr, fpr
        return result

    overall = report(list(range(len(scores))))
    if sources is None:
        return {"overall": overall}
    by_source: dict[str, list[int]] = defaultdict(list)
    for index, source in enumerate(sources):
        by_source[source].append(index)
    human_indices = [i for i, label in enumerate(labels) if label == "human"]
    per_source = {
        s: report(sorted(set(idx) | set(human_indices)))
        for s, idx in by_source.items()
        if any(labels[i] == "ai" for i in idx)
    }
    return {"overall": overall, "per_source": per_source}
