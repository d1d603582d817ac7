"""Calling a Generator so that one bad item never sinks its batch, and telling policy blocks from failures.

A batch goes to `generate` in one call (the backend parallelises it: concurrent HTTP requests or one padded
forward pass); if the call raises, each item is retried alone so the failure lands on the item that caused it.
ASTRAL (arXiv 2501.17749, section 3) records a provider's policy refusal as *blocked*, distinct from an error.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass

from headwater.errors import HeadwaterError
from headwater.models.generator import Generation, GenerationParams, Generator, Prompt

logger = logging.getLogger(__name__)

_POLICY = re.compile(
    r"content[\s_-]?(?:policy|filter|management)|policy[\s_-]?violation|violat\w* (?:our|the|its) (?:usage )?polic"
    r"|responsible[\s_-]?ai|safety[\s_-]?(?:system|filter)|invalid_prompt",
    re.IGNORECASE,
)
BLOCKED_FINISH_REASONS = frozenset({"content_filter", "safety", "blocked"})
"""`finish_reason` values with which providers say they withheld the output."""


@dataclass(frozen=True)
class CallResult:
    """One item's result: a generation, or the exception that replaced it."""

    generation: Generation | None
    error: BaseException | None = None

    @property
    def blocked(self) -> bool:
        """Whether the provider refused on policy grounds (a block), not failed."""
        if self.generation is not None:
            return self.generation.finish_reason in BLOCKED_FINISH_REASONS
        return self.error is not None and bool(_POLICY.search(f"{type(self.error).__name__} {self.error}"))

    def describe(self) -> str:
        """A one-line reason for a blocked or failed item."""
        if self.error is not None:
            return f"{type(self.error).__name__}: {self.error}"[:500]
        return f"finish_reason={self.generation.finish_reason}" if self.generation else "no result"


def call_isolated(generator: Generator, prompts: Sequence[Prompt], params: GenerationParams) -> list[CallResult]:
    """One result per prompt, in order. Only `Exception`s are caught: an interrupt or crash still stops the run."""
    if not prompts:
        return []
    try:
        generations = generator.generate(list(prompts), params)
        if len(generations) != len(prompts):
            raise HeadwaterError(f"{generator.name} returned {len(generations)} results for {len(prompts)} prompts")
        return [CallResult(generation) for generation in generations]
    except Exception as error:  # any backend failure becomes a per-item result
        if len(prompts) == 1:
            return [CallResult(None, error)]
        logger.info("batch of %d failed (%s); retrying each alone", len(prompts), error)
    return [call_isolated(generator, [prompt], params)[0] for prompt in prompts]
