"""AI-text detection: Binoculars and Fast-DetectGPT over causal LMs, the clue detector, the LLM detector, and
ensembles of calibrated detectors."""

from headwater.detect.binoculars import Binoculars
from headwater.detect.calibrate import Calibration, evaluate
from headwater.detect.clue_features import Lexicon
from headwater.detect.clues import ClueDetector, ClueExplanation, Contribution
from headwater.detect.ensemble import Ensemble, majority_vote, stack
from headwater.detect.fast_detectgpt import FastDetectGPT
from headwater.detect.llm_detector import LLMDetection, LLMDetector

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
