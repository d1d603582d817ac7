"""Guardrail moderation: decide whether a text, a chat or a fine-tuning example is safe to train on.

Backends: `LLMGuard` (a Llama-Guard-style prompt to any Generator), `HFGuard` (an in-process guard model with the
first-token P(unsafe) as score), `ClassifierGuard` (embeddings + logistic regression, trained on your labels).
Defences that wrap any guard: `SegmentGuard`, `NormalisedGuard`, `EnsembleGuard`, and `PerplexityFilter`.
`check_file` moderates a fine-tuning JSONL the way the platform does before training (fail closed).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from headwater._lazy import lazy_exports

if TYPE_CHECKING:
    from headwater.safety.guard.check import CheckItem, CheckReport, check_examples, check_file, read_examples
    from headwater.safety.guard.classifier import ClassifierGuard, is_classifier, read_labelled, train_classifier
    from headwater.safety.guard.defences import EnsembleGuard, NormalisedGuard, SegmentGuard, normalise
    from headwater.safety.guard.hf import HFGuard, verdict_token_ids
    from headwater.safety.guard.llm import LLAMA_GUARD_2_CATEGORIES, LLMGuard, guard_prompt, parse_reply
    from headwater.safety.guard.perplexity import PerplexityFilter
    from headwater.safety.guard.setup import GuardConfig, load_guard
    from headwater.safety.guard.verdict import (
        Guard,
        ThresholdGuard,
        Verdict,
        as_conversation,
        false_positive_rate,
        thresholded,
    )

_EXPORTS = {
    "CheckItem": "headwater.safety.guard.check",
    "CheckReport": "headwater.safety.guard.check",
    "ClassifierGuard": "headwater.safety.guard.classifier",
    "EnsembleGuard": "headwater.safety.guard.defences",
    "Guard": "headwater.safety.guard.verdict",
    "GuardConfig": "headwater.safety.guard.setup",
    "HFGuard": "headwater.safety.guard.hf",
    "LLAMA_GUARD_2_CATEGORIES": "headwater.safety.guard.llm",
    "LLMGuard": "headwater.safety.guard.llm",
    "NormalisedGuard": "headwater.safety.guard.defences",
    "PerplexityFilter": "headwater.safety.guard.perplexity",
    "SegmentGuard": "headwater.safety.guard.defences",
    "ThresholdGuard": "headwater.safety.guard.verdict",
    "Verdict": "headwater.safety.guard.verdict",
    "as_conversation": "headwater.safety.guard.verdict",
    "check_examples": "headwater.safety.guard.check",
    "check_file": "headwater.safety.guard.check",
    "false_positive_rate": "headwater.safety.guard.verdict",
    "guard_prompt": "headwater.safety.guard.llm",
    "is_classifier": "headwater.safety.guard.classifier",
    "load_guard": "headwater.safety.guard.setup",
    "normalise": "headwater.safety.guard.defences",
    "parse_reply": "headwater.safety.guard.llm",
    "read_examples": "headwater.safety.guard.check",
    "read_labelled": "headwater.safety.guard.classifier",
    "thresholded": "headwater.safety.guard.verdict",
    "train_classifier": "headwater.safety.guard.classifier",
    "verdict_token_ids": "headwater.safety.guard.hf",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())

__all__ = [
    "LLAMA_GUARD_2_CATEGORIES",
    "CheckItem",
    "CheckReport",
    "ClassifierGuard",
    "EnsembleGuard",
    "Guard",
    "GuardConfig",
    "HFGuard",
    "LLMGuard",
    "NormalisedGuard",
    "PerplexityFilter",
    "SegmentGuard",
    "ThresholdGuard",
    "Verdict",
    "as_conversation",
    "check_examples",
    "check_file",
    "false_positive_rate",
    "guard_prompt",
    "is_classifier",
    "load_guard",
    "normalise",
    "parse_reply",
    "read_examples",
    "read_labelled",
    "thresholded",
    "train_classifier",
    "verdict_token_ids",
]
