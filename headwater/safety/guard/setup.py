"""Which guard moderates and the defences around it, as one typed config and one call (`load_guard`), the same
for `guard check`, the examples and platform jobs."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from headwater.errors import InvalidRequestError
from headwater.models.endpoint import generator_for
from headwater.safety.guard.llm import PROMPT_STYLES
from headwater.safety.guard.verdict import Guard


@dataclass(frozen=True)
class GuardConfig:
    """A guard and its defences. Every field is checked here, before any model loads."""

    model: str
    """A `train_classifier` folder, a guard model (HF id, folder, built-in), or a served name with `base_url`."""
    base_url: str | None = None
    """OpenAI-compatible base URL serving `model` (then always asked, even when a local folder shares its name)."""
    api_key: str | None = None
    data_dir: Path = Path(".headwater")
    style: str = "llama-guard"
    """llama-guard (the policy prompt wrapped around the chat) or chat (the chat as is)."""
    threshold: float | None = None
    """Flag when P(unsafe) >= threshold (guards with a score); applied before the defences."""
    segments: int = 0
    """Defence: also moderate the last turn in pieces of this many characters (0: off, else at least 8)."""
    normalised: bool = False
    """Defence: also moderate a normalised view (homoglyphs, spacing, leetspeak undone)."""
    perplexity_model: str | None = None
    """Defence: flag text this LM finds gibberish (an optimised suffix, say)."""
    perplexity_threshold: float = 1000.0
    """Windowed perplexity above which the perplexity defence flags."""

    def __post_init__(self) -> None:
        if self.threshold is not None and not 0.0 <= self.threshold <= 1.0:
            raise InvalidRequestError(f"threshold must be in [0, 1], got {self.threshold}", param="threshold")
        if self.style not in PROMPT_STYLES:
            raise InvalidRequestError(
                f"style must be one of {', '.join(PROMPT_STYLES)}, got {self.style!r}", param="style"
            )
        if self.segments and self.segments < 8:
            raise InvalidRequestError(
                f"segments must be 0 (off) or at least 8 characters, got {self.segments}", param="segments"
            )
        if not self.perplexity_threshold > 0:
            raise InvalidRequestError(
                f"perplexity_threshold must be above 0, got {self.perplexity_threshold}", param="perplexity_threshold"
            )


def base_guard(config: GuardConfig) -> Guard:
    """The guard alone: a saved classifier folder, a served guard (with a base URL), or a guard model here."""
    from headwater.safety.guard.classifier import ClassifierGuard, is_classifier
    from headwater.safety.guard.hf import HFGuard
    from headwater.safety.guard.llm import LLMGuard

    if config.base_url:  # a served name, even when a local folder happens to share it (`--output my-guard/`)
        generator = generator_for(config.model, config.base_url, config.api_key, config.data_dir)
        return LLMGuard(generator, style=config.style)
    if is_classifier(config.model):
        return ClassifierGuard.load(Path(config.model), config.data_dir)
    return HFGuard.from_pretrained(config.model, config.data_dir, style=config.style)


def load_guard(config: GuardConfig) -> Guard:
    """The configured guard, thresholded (before the defences: a perplexity flag has no score), then wrapped in
    the defences asked for."""
    from headwater.safety.guard import EnsembleGuard, NormalisedGuard, SegmentGuard, ThresholdGuard

    guard = base_guard(config)
    if config.threshold is not None:
        guard = ThresholdGuard(guard, config.threshold)
    if config.segments:
        guard = SegmentGuard(guard, config.segments)
    if config.normalised:
        guard = NormalisedGuard(guard)
    if config.perplexity_model:
        guard = EnsembleGuard([guard, _perplexity_filter(config)])
    return guard


def _perplexity_filter(config: GuardConfig) -> Guard:
    from headwater.models.loading import load_model, load_tokenizer
    from headwater.safety.guard import PerplexityFilter

    name, data_dir = str(config.perplexity_model), config.data_dir
    tokenizer = load_tokenizer(name, data_dir=data_dir)
    return PerplexityFilter(load_model(name, data_dir=data_dir), tokenizer, config.perplexity_threshold)
