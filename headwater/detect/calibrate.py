"""Thresholds at a target false-positive rate, and evaluation at fixed FPRs.

Scores are oriented so that higher means AI (negated when a detector's `higher_is_ai` is False). The threshold
is the lowest one whose FPR on human texts from the target domain stays at or below the target: it flags as
much as it can without exceeding the false-positive budget. With n human texts the smallest measurable FPR is
1/n: below that the achieved FPR is 0 and a warning says the data cannot show the target was met.

`evaluate` with a saved calibration applies its threshold to labelled texts the calibration never saw: the FPR
it gives there (`held_out_fpr`) is the honest figure, unlike the in-sample 1 %/5 % thresholds.

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
    """A saved, reloadable detector configuration with its threshold.

    `threshold` is on oriented scores (higher = AI): AI if oriented score ≥ threshold. For a detector whose low
    scores mean AI (`higher_is_ai` False: Binoculars) the oriented score is −score, so the stored threshold is
    negative: −0.8536 means AI when B ≤ 0.8536. `raw_threshold` gives it in the detector's own units."""

    detector: str
    models: list[str]
    threshold: float
    target_fpr: float
    achieved_fpr: float
    n_human: int
    higher_is_ai: bool
    settings: dict[str, object]
    date: str

    @property
    def raw_threshold(self) -> float:
        """The threshold on the detector's own scores: AI if score ≥ it (`higher_is_ai`), else if score ≤ it."""
        return self.threshold if self.higher_is_ai else -self.threshold

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


def fpr_upper_bound(flagged: int, n_human: int, confidence: float = 0.95) -> float:
    """One-sided exact (Clopper-Pearson) upper bound on the FPR after `flagged` of `n_human` human texts were
    flagged: with 0 of n it is 1 − 0.05^(1/n) ≈ 3/n (the "rule of three"), so a held-out FPR of 0 on 100 texts
    still allows about 3 %."""
    if n_human == 0:
        return math.nan
    from scipy.stats import beta  # scipy.stats takes ~0.7 s to import: only when a bound is computed

    return 1.0 if flagged >= n_human else float(beta.ppf(confidence, flagged + 1, n_human - flagged))


def _share(values: Sequence[float], threshold: float) -> float:
    return sum(1 for v in values if v >= threshold) / len(values) if values else math.nan


@dataclass(frozen=True)
class _Scored:
    """Oriented, answered scores of one group of texts, by label."""

    ai: list[float]
    human: list[float]
    refused: int


def _group(oriented: Sequence[float], labels: Sequence[str], indices: Sequence[int]) -> _Scored:
    ai = answered([oriented[i] for i in indices if labels[i] == "ai"])
    human = answered([oriented[i] for i in indices if labels[i] == "human"])
    return _Scored(ai, human, len(indices) - len(ai) - len(human))


def _group_auroc(group: _Scored, everyone: _Scored) -> float:
    """The group's AI texts against its own human texts when it has both labels, else against all texts of the
    label it lacks (a generator's texts against every human text; a human source against every AI text)."""
    if group.ai and group.human:
        return auroc(group.ai, group.human)
    return auroc(group.ai, everyone.human) if group.ai else auroc(everyone.ai, group.human)


def _report(group: _Scored, everyone: _Scored, thresholds: dict[str, float]) -> dict[str, float]:
    """Counts, AUROC, and the group's TPR and FPR at thresholds picked once for all texts (one threshold for every
    source, as a deployed detector has); NaN where the group has no text of that label."""
    result: dict[str, float] = {"n_ai": len(group.ai), "n_human": len(group.human), "refused": group.refused}
    result["auroc"] = _group_auroc(group, everyone)
    for name, threshold in thresholds.items():
        held_out = name == "calibration"
        tpr_key, fpr_key = ("held_out_tpr", "held_out_fpr") if held_out else (f"tpr_at_{name}_fpr", f"fpr_at_{name}")
        result[tpr_key], result[fpr_key] = _share(group.ai, threshold), _share(group.human, threshold)
        if held_out:
            flagged = sum(1 for h in group.human if h >= threshold)
            result["held_out_fpr_upper_95"] = fpr_upper_bound(flagged, len(group.human))
    return result


def _thresholds(human: list[float], calibration: Calibration | None) -> dict[str, float]:
    """The thresholds at 1 % and 5 % FPR picked on these human texts (in-sample), and the calibration's."""
    thresholds: dict[str, float] = {}
    if human:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SmallSampleWarning)
            thresholds = {f"{round(t * 100)}pct": threshold_at_fpr(human, t)[0] for t in (0.01, 0.05)}
    if calibration is not None:
        thresholds["calibration"] = calibration.threshold
    return thresholds


def _calibration_block(calibration: Calibration, n_human: int) -> dict[str, object]:
    """The calibration's threshold and FPRs, and a warning when the held-out human texts are too few to show an
    FPR as small as its target (the smallest step is 1/n)."""
    block: dict[str, object] = {
        "threshold": calibration.threshold,
        "higher_is_ai": calibration.higher_is_ai,
        "target_fpr": calibration.target_fpr,
        "calibration_fpr": calibration.achieved_fpr,
        "calibration_n_human": calibration.n_human,
    }
    if n_human == 0:
        block["warning"] = "no held-out human text was scored: the calibration's FPR cannot be checked here"
    elif 1 / n_human > calibration.target_fpr:
        block["warning"] = (
            f"{n_human} held-out human texts cannot measure an FPR of {calibration.target_fpr:.2%} (the smallest "
            f"step is {1 / n_human:.2%}); add human texts from your domain"
        )
    return block


def evaluate(
    scores: Sequence[float],
    labels: Sequence[str],
    higher_is_ai: bool,
    sources: Sequence[str] | None = None,
    calibration: Calibration | None = None,
) -> dict[str, object]:
    """TPR and FPR at the thresholds giving 1 % and 5 % FPR on these human texts, AUROC and refusals, overall and
    per source (labels: "ai" or "human").

    The 1 %/5 % thresholds are picked on the evaluated human texts themselves (an in-sample, optimistic figure);
    with `calibration`, its saved threshold is applied too and `held_out_tpr`/`held_out_fpr` are what it gives on
    these texts (held out when they were not used to calibrate), with a 95 % upper bound on the FPR. `per_source`
    has every source, AI-only, human-only or mixed: a source's AI texts give TPRs, its human texts FPRs, all at
    the same thresholds. NaN scores (refusals) are dropped from every figure and counted in `refused`."""
    if len(scores) != len(labels):
        raise InvalidRequestError("scores and labels differ in length", param="labels")
    unknown = sorted(set(labels) - {"ai", "human"})
    if unknown:
        raise InvalidRequestError(f"labels must be 'ai' or 'human', got {unknown}", param="labels")
    if calibration is not None and calibration.higher_is_ai != higher_is_ai:
        raise InvalidRequestError("the calibration was made for a detector of the other polarity", param="calibration")
    oriented = orient(scores, higher_is_ai)
    everyone = _group(oriented, labels, range(len(scores)))
    thresholds = _thresholds(everyone.human, calibration)
    result: dict[str, object] = {"overall": _report(everyone, everyone, thresholds)}
    if calibration is not None:
        result["calibration"] = _calibration_block(calibration, len(everyone.human))
    if sources is not None:
        by_source: dict[str, list[int]] = defaultdict(list)
        for index, source in enumerate(sources):
            by_source[source].append(index)
        result["per_source"] = {
            s: _report(_group(oriented, labels, idx), everyone, thresholds) for s, idx in by_source.items()
        }
    return result
