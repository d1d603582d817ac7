"""Ensembles of calibrated detectors: a majority of their votes, or logistic stacking recalibrated at a target FPR.

Each member is a `Calibration` (its threshold at a target FPR and its orientation), and the ensemble takes the
members' raw scores, one list per member, so it never runs a model itself. Voting: a text is AI when a strict
majority of members flag it; a refused (NaN) member score is a no-AI vote, so refusals never add flags. Stacking:
a logistic regression over the members' oriented, standardised scores; its logit is the ensemble's score, and
`calibrate` picks the threshold on human texts (held-out ones when given: thresholds picked on the texts the
regression was fit on are optimistic). A text with any refused member score is refused (NaN).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from headwater.detect.calibrate import Calibration, calibrate, orient
from headwater.errors import InvalidRequestError
from headwater.files import write_atomic

FORMAT = "headwater.ensemble/1"
MemberScores = Sequence[Sequence[float]]
"""Raw scores, one list per member (in the members' order), one score per text."""


@dataclass(frozen=True)
class Ensemble:
    """`method` "vote" or "stack"; stacking keeps its weights, scaler and own calibration."""

    method: str
    members: tuple[Calibration, ...]
    weights: tuple[float, ...] = ()
    intercept: float = 0.0
    mean: tuple[float, ...] = ()
    scale: tuple[float, ...] = ()
    calibration: Calibration | None = None
    higher_is_ai: bool = field(default=True, init=False)

    def __post_init__(self) -> None:
        if self.method not in ("vote", "stack"):
            raise InvalidRequestError(f"method must be vote or stack, got {self.method!r}", param="method")
        if not self.members:
            raise InvalidRequestError("an ensemble needs at least one calibrated member", param="members")
        if self.method == "stack" and (self.calibration is None or len(self.weights) != len(self.members)):
            raise InvalidRequestError(
                "a stacking ensemble needs one weight per member and a calibration", param="weights"
            )

    def _oriented(self, member_scores: MemberScores) -> np.ndarray:
        """[texts, members] oriented scores."""
        if len(member_scores) != len(self.members):
            raise InvalidRequestError(
                f"{len(self.members)} members but {len(member_scores)} score lists", param="scores"
            )
        if len({len(scores) for scores in member_scores}) > 1:
            raise InvalidRequestError("every member must score the same texts", param="scores")
        columns = [orient(s, m.higher_is_ai) for s, m in zip(member_scores, self.members, strict=True)]
        return np.array(columns, dtype=float).T

    def votes(self, member_scores: MemberScores) -> list[int]:
        """How many members flag each text (a NaN score flags nothing)."""
        self._oriented(member_scores)  # validates the shapes
        flags = [[m.is_ai(s) for s in scores] for scores, m in zip(member_scores, self.members, strict=True)]
        return [sum(column) for column in zip(*flags, strict=True)]

    def score(self, member_scores: MemberScores) -> list[float]:
        """Vote: the share of members flagging each text. Stack: the regression's logit (NaN if any member refused)."""
        if self.method == "vote":
            return [count / len(self.members) for count in self.votes(member_scores)]
        z = (self._oriented(member_scores) - np.array(self.mean)) / np.array(self.scale)
        return (z @ np.array(self.weights) + self.intercept).tolist()

    def is_ai(self, member_scores: MemberScores) -> list[bool]:
        if self.method == "vote":
            return [2 * count > len(self.members) for count in self.votes(member_scores)]
        assert self.calibration is not None
        return [not math.isnan(s) and self.calibration.is_ai(s) for s in self.score(member_scores)]

    def save(self, path: Path) -> None:
        data = {"format": FORMAT, **asdict(self)}
        data.pop("higher_is_ai")
        write_atomic(path, json.dumps(data, indent=2))

    @classmethod
    def load(cls, path: Path) -> Ensemble:
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
            if data.pop("format", None) != FORMAT:
                raise InvalidRequestError(f"format is not {FORMAT!r}")
            members = tuple(Calibration(**member) for member in data.pop("members"))
            saved = data.pop("calibration")
            calibration = Calibration(**saved) if saved else None
            weights, mean, scale = (tuple(data.pop(k)) for k in ("weights", "mean", "scale"))
            return cls(members=members, calibration=calibration, weights=weights, mean=mean, scale=scale, **data)
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise InvalidRequestError(f"{path} is not a saved ensemble: {error}", param="ensemble") from error


def majority_vote(members: Sequence[Calibration]) -> Ensemble:
    return Ensemble("vote", tuple(members))


def stack(
    members: Sequence[Calibration],
    member_scores: MemberScores,
    labels: Sequence[str],
    target_fpr: float,
    *,
    human_scores: MemberScores | None = None,
    c: float = 1.0,
) -> Ensemble:
    """Fit logistic stacking on labelled texts (rows with a refused member left out), then calibrate its logit on
    `human_scores` (held-out human texts, recommended) or on the training set's human texts."""
    base = Ensemble("vote", tuple(members))
    x = base._oriented(member_scores)
    if len(labels) != len(x):
        raise InvalidRequestError(f"{len(x)} texts but {len(labels)} labels", param="labels")
    keep = ~np.isnan(x).any(axis=1)
    y = np.array([label == "ai" for label in labels])[keep]
    if y.all() or not y.any():
        raise InvalidRequestError("stacking needs scored 'ai' and 'human' texts", param="labels")
    scaler = StandardScaler().fit(x[keep])
    model = LogisticRegression(C=c, max_iter=2000).fit(scaler.transform(x[keep]), y)
    weights, intercept = tuple(model.coef_[0].tolist()), float(model.intercept_[0])
    mean, scale = tuple(scaler.mean_.tolist()), tuple(scaler.scale_.tolist())
    logits = (((x - np.array(mean)) / np.array(scale)) @ np.array(weights) + intercept).tolist()
    if human_scores is not None:
        held_out = (base._oriented(human_scores) - np.array(mean)) / np.array(scale)
        human = (held_out @ np.array(weights) + intercept).tolist()
    else:
        human = [s for s, label in zip(logits, labels, strict=True) if label == "human"]
    names = [f"{m.detector}:{'+'.join(m.models)}" for m in members]
    calibration = calibrate("ensemble-stack", names, human, True, target_fpr, {"held_out": human_scores is not None})
    return Ensemble("stack", tuple(members), weights, intercept, mean, scale, calibration)
