"""AI-text detection: Binoculars and Fast-DetectGPT over any pair of causal LMs sharing a tokenizer."""

from headwater.detect.binoculars import Binoculars
from headwater.detect.fast_detectgpt import FastDetectGPT

__all__ = ["Binoculars", "FastDetectGPT"]
