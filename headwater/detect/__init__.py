"""AI-text detection: Binoculars and Fast-DetectGPT over causal LMs, the clue detector, the LLM detector, and
ensembles of calibrated detectors."""

from __future__ import annotations

from typing import TYPE_CHECKING

from headwater._lazy import lazy_exports

if TYPE_CHECKING:
    from headwater.detect.binoculars import Binoculars
    from headwater.detect.calibrate import Calibration, evaluate
    from headwater.detect.clue_features import Lexicon
    from headwater.detect.clues import ClueDetector, ClueExplanation, Contribution
    from headwater.detect.config import DetectorConfig, build_detector
    from headwater.detect.ensemble import Ensemble, majority_vote, stack
    from headwater.detect.fast_detectgpt import FastDetectGPT
    from headwater.detect.llm_detector import LLMDetection, LLMDetector
    from headwater.detect.scoring import (
        CalibratedDetector,
        calibrate_detector,
        evaluate_texts,
        load_calibrated,
        score_texts,
    )

_EXPORTS = {
    "Binoculars": "headwater.detect.binoculars",
    "CalibratedDetector": "headwater.detect.scoring",
    "Calibration": "headwater.detect.calibrate",
    "ClueDetector": "headwater.detect.clues",
    "ClueExplanation": "headwater.detect.clues",
    "Contribution": "headwater.detect.clues",
    "DetectorConfig": "headwater.detect.config",
    "Ensemble": "headwater.detect.ensemble",
    "FastDetectGPT": "headwater.detect.fast_detectgpt",
    "LLMDetection": "headwater.detect.llm_detector",
    "LLMDetector": "headwater.detect.llm_detector",
    "Lexicon": "headwater.detect.clue_features",
    "build_detector": "headwater.detect.config",
    "calibrate_detector": "headwater.detect.scoring",
    "evaluate": "headwater.detect.calibrate",
    "evaluate_texts": "headwater.detect.scoring",
    "load_calibrated": "headwater.detect.scoring",
    "majority_vote": "headwater.detect.ensemble",
    "score_texts": "headwater.detect.scoring",
    "stack": "headwater.detect.ensemble",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())

__all__ = [
    "Binoculars",
    "CalibratedDetector",
    "Calibration",
    "ClueDetector",
    "ClueExplanation",
    "Contribution",
    "DetectorConfig",
    "Ensemble",
    "FastDetectGPT",
    "LLMDetection",
    "LLMDetector",
    "Lexicon",
    "build_detector",
    "calibrate_detector",
    "evaluate",
    "evaluate_texts",
    "load_calibrated",
    "majority_vote",
    "score_texts",
    "stack",
]
