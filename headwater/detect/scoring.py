"""Run a detector over texts the way every caller does (CLI, examples, jobs): one row per text with refusals said,
a calibration made or reloaded with the detector it belongs to, and evaluation on labelled texts."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from headwater.detect.calibrate import Calibration, calibrate, evaluate
from headwater.detect.config import CALIBRATED_FIELDS, DetectorConfig, build_detector
from headwater.errors import InvalidRequestError
from headwater.jsonl import read_jsonl

if TYPE_CHECKING:
    from headwater.detect.config import Detector


def read_texts(path: Path) -> list[dict]:
    """JSONL lines with a `text` (and, for calibration, evaluation and clue training, a `label`; optional `id`,
    `source`); a line without a text string is an error naming it."""
    rows = []
    for number, row in read_jsonl(path, "text"):
        if not isinstance(row, dict) or not isinstance(row.get("text"), str):
            raise InvalidRequestError(f"line {number}: field 'text' must be a string", param=f"line {number}.text")
        rows.append(row)
    return rows


def read_labels(rows: Sequence[Mapping[str, object]]) -> list[str]:
    """Each row's `label`, lower-cased; anything but ai or human is an error naming the lines."""
    labels = [str(row.get("label", "")).lower() for row in rows]
    bad = [i + 1 for i, label in enumerate(labels) if label not in ("ai", "human")]
    if bad:
        raise InvalidRequestError(f"lines {bad[:5]}: field 'label' must be 'ai' or 'human'", param="label")
    return labels


def score_texts(detector: Detector, texts: Sequence[str], explain: bool = False) -> list[dict[str, object]]:
    """One result per text: `score` (None when refused, with `refused` naming why), and the LLM detector's label,
    confidence and explanation, or the clue detector's top clues with their quotes when `explain`."""
    from headwater.detect.clues import ClueDetector
    from headwater.detect.llm_detector import LLMDetector

    if isinstance(detector, LLMDetector):
        return [_llm_row(result) for result in detector.detect(list(texts))]
    reasons = [detector.refusal(text) for text in texts]
    accepted = [text for text, reason in zip(texts, reasons, strict=True) if reason is None]
    scores = iter(detector.score(accepted) if accepted else [])
    rows: list[dict[str, object]] = [
        {"score": next(scores)} if reason is None else {"score": None, "refused": reason} for reason in reasons
    ]
    if explain and isinstance(detector, ClueDetector):
        for row, text in zip(rows, texts, strict=True):
            if row["score"] is not None:
                row["clues"] = _clues(detector, text)
    return rows


def _llm_row(result: object) -> dict[str, object]:
    score = result.score  # type: ignore[attr-defined]
    row: dict[str, object] = {"score": None if math.isnan(score) else score}
    row |= {name: getattr(result, name) for name in ("label", "confidence", "explanation")}
    return row | ({"refused": result.error} if result.error else {})  # type: ignore[attr-defined]


def _clues(detector: Detector, text: str) -> list[dict[str, object]]:
    return [
        {"feature": f.name, "category": f.category, "side": f.side, "contribution": round(f.contribution, 4)}
        | {"quotes": [{"start": s, "end": e, "quote": q} for s, e, q in f.spans[:5]]}
        for f in detector.explain(text, top=5).features  # type: ignore[union-attr]
    ]


def scores_of(results: Sequence[Mapping[str, object]]) -> list[float]:
    """Scores for calibration and evaluation: a refusal is NaN, which both leave out (and evaluate counts)."""
    return [math.nan if r["score"] is None else float(r["score"]) for r in results]  # type: ignore[arg-type]


@dataclass(frozen=True)
class CalibratedDetector:
    """A detector rebuilt from a saved calibration, with the calibration whose threshold gives its verdicts."""

    config: DetectorConfig
    calibration: Calibration
    detector: Detector

    def score(self, texts: Sequence[str], explain: bool = False) -> list[dict[str, object]]:
        """`score_texts`, plus an `ai` verdict per text (None when refused)."""
        rows = score_texts(self.detector, texts, explain)
        for row in rows:
            row["ai"] = None if row["score"] is None else self.calibration.is_ai(float(row["score"]))  # type: ignore[arg-type]
        return rows


def load_calibrated(
    path: Path,
    *,
    data_dir: Path = Path(".headwater"),
    api_key: str | None = None,
    expected: Mapping[str, object] | None = None,
) -> CalibratedDetector:
    """The detector a calibration saved at `path` was made with (its models and settings), ready to score.

    `expected` holds DetectorConfig fields a caller named (None: not named); each must agree with the calibration,
    since scoring with another detector than the one the threshold was picked for gives a meaningless verdict."""
    calibration = Calibration.load(path)
    config = DetectorConfig.from_calibration(calibration, data_dir, api_key)
    config.check_agrees({field: (expected or {}).get(field) for field in CALIBRATED_FIELDS})
    return CalibratedDetector(config, calibration, build_detector(config))


def calibrate_detector(
    config: DetectorConfig, texts: Sequence[str], target_fpr: float = 0.01, detector: Detector | None = None
) -> Calibration:
    """Score human-written `texts` with the configured detector (built unless given) and pick the threshold that
    keeps their FPR at or below `target_fpr`; the calibration records what `load_calibrated` needs to rebuild it.
    Warns (SmallSampleWarning) when too few texts scored to measure the target."""
    detector = detector or build_detector(config)
    scores = scores_of(score_texts(detector, texts))
    settings = config.settings(detector)
    return calibrate(config.detector, config.models(), scores, detector.higher_is_ai, target_fpr, settings)


def evaluate_texts(
    detector: Detector, rows: Sequence[Mapping[str, object]], calibration: Calibration | None = None
) -> dict[str, object]:
    """`evaluate` on labelled rows (`text`, `label`, optional `source`): TPR at 1 % and 5 % FPR, AUROC and
    refusals, overall and per source (rows without one form "(none)"); with a calibration, its held-out FPR."""
    labels = read_labels(rows)
    scores = scores_of(score_texts(detector, [str(row["text"]) for row in rows]))
    sources = [str(row.get("source", "(none)")) for row in rows] if any("source" in row for row in rows) else None
    return evaluate(scores, labels, detector.higher_is_ai, sources, calibration=calibration)
