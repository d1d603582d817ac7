"""The `Generator` protocol: anything that turns prompts into text.

Every capability that needs "an LLM to write or judge text" (critique data, judging, red-teaming, LLM detectors)
takes a Generator, so the same code runs against a local HF model (`HFGenerator`), any OpenAI-compatible
endpoint including our own server (`OpenAIGenerator`), or a scripted fake in tests.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from headwater.errors import InvalidRequestError

ChatMessages = list[dict[str, str]]
Prompt = str | ChatMessages
"""A plain-text prompt (continued as is) or chat messages (formatted with the model's chat template)."""


@dataclass(frozen=True)
class GenerationParams:
    """Sampling settings shared by all backends. temperature 0 is greedy."""

    max_tokens: int = 256
    temperature: float = 0.0
    top_p: float = 1.0
    stop: tuple[str, ...] = ()
    seed: int | None = None

    def __post_init__(self) -> None:
        if self.max_tokens < 1:
            raise InvalidRequestError(f"max_tokens must be at least 1, got {self.max_tokens}")
        if not 0.0 <= self.temperature <= 2.0:
            raise InvalidRequestError(f"temperature must be in [0, 2], got {self.temperature}")
        if not 0.0 < self.top_p <= 1.0:
            raise InvalidRequestError(f"top_p must be in (0, 1], got {self.top_p}")


@dataclass(frozen=True)
class Generation:
    """One prompt's result."""

    text: str
    finish_reason: str
    prompt_tokens: int
    completion_tokens: int


@runtime_checkable
class Generator(Protocol):
    """Generates one completion per prompt, in order."""

    name: str

    def generate(self, prompts: Sequence[Prompt], params: GenerationParams | None = None) -> list[Generation]: ...


def cut_at_stop(text: str, stops: Sequence[str]) -> tuple[str, bool]:
    """`text` up to the first stop string, and whether one was found."""
    cut = min((index for index in (text.find(stop) for stop in stops if stop) if index >= 0), default=-1)
    return (text[:cut], True) if cut >= 0 else (text, False)
