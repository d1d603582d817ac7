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
    from headwater.detect.ensemble import Ensemble, majority_vote, stack
    from headwater.detect.fast_detectgpt import FastDetectGPT
    from headwater.detect.llm_detector import LLMDetection, LLMDetector

_EXPORTS = {
    "Binoculars": "headwater.detect.binoculars",
    "Calibration": "headwater.detect.calibrate",
    "ClueDetector": "headwater.detect.clues",
    "ClueExplanation": "headwater.detect.clues",
    "Contribution": "headwater.detect.clues",
    "Ensemble": "headwater.detect.ensemble",
    "FastDetectGPT": "headwater.detect.fast_detectgpt",
    "LLMDetection": "headwater.detect.llm_detector",
    "LLMDetector": "headwater.detect.llm_detector",
    "Lexicon": "headwater.detect.clue_features",
    "evaluate": "headwater.detect.calibrate",
    "majority_vote": "headwater.detect.ensemble",
    "stack": "headwater.detect.ensemble",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())

__all__ = [
    "Binoculars",
    "Calibration",
    "ClueDetector",
    "ClueExplanation",
    "Contribution",
    "Ensemble",
    "FastDetectGPT",
    "LLMDetection",
    "LLMDetector",
    "Lexicon",
    "evaluate",
    "majority_vote",
    "stack",
]
