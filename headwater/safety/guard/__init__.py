"""Guardrail moderation: decide whether a text, a chat or a fine-tuning example is safe to train on.

Backends: `LLMGuard` (a Llama-Guard-style prompt to any Generator), `HFGuard` (an in-process guard model with the
first-token P(unsafe) as score), `ClassifierGuard` (embeddings + logistic regression, trained on your labels).
Defences that wrap any guard: `SegmentGuard`, `NormalisedGuard`, `EnsembleGuard`, and `PerplexityFilter`.
`check_file` moderates a fine-tuning JSONL the way the platform does before training (fail closed).
"""

from headwater.safety.guard.check import CheckItem, CheckReport, check_examples, check_file, read_examples
from headwater.safety.guard.classifier import ClassifierGuard, is_classifier, read_labelled, train_classifier
from headwater.safety.guard.defences import EnsembleGuard, NormalisedGuard, SegmentGuard, normalise
from headwater.safety.guard.hf import HFGuard, verdict_token_ids
from headwater.safety.guard.llm import LLAMA_GUARD_2_CATEGORIES, LLMGuard, guard_prompt, parse_reply
from headwater.safety.guard.perplexity import PerplexityFilter
from headwater.safety.guard.verdict import (
    Guard,
    ThresholdGuard,
    Verdict,
    as_conversation,
    false_positive_rate,
    thresholded,
)

__all__ = [
    "LLAMA_GUARD_2_CATEGORIES",
    "CheckItem",
    "CheckReport",
    "ClassifierGuard",
    "EnsembleGuard",
    "Guard",
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
    "normalise",
    "parse_reply",
    "read_examples",
    "read_labelled",
    "thresholded",
    "train_classifier",
    "verdict_token_ids",
]
