"""The paper's use-case clusters (Desroches et al., arXiv 2501.14334, §2.2): token profiles of chat, RAG and
agents, and the three model sizes."""

from __future__ import annotations

from dataclasses import dataclass

from headwater.errors import InvalidRequestError
from headwater.footprint.capgemini import InferenceWorkload
from headwater.footprint.factors import PORTFOLIO_REGION


@dataclass(frozen=True)
class TokenProfile:
    """Mean tokens of one request of a GenAI use case, and its LLM calls (agents call tools between calls)."""

    input_tokens: float
    output_tokens: float
    llm_calls: float = 1.0


GENAI_USE_CASES = {
    "chat": TokenProfile(126.89, 208.45),
    "rag": TokenProfile(5333.0, 363.0),
    "agents": TokenProfile(405.65, 390.93, llm_calls=3.03),
}
MODEL_SIZES = {"8B": 8e9, "70B": 70e9, "405B": 405e9}


def cluster_workload(use_case: str, size: str, region: str = PORTFOLIO_REGION) -> InferenceWorkload:
    """One inference of a paper cluster, e.g. ("chat", "70B")."""
    if use_case not in GENAI_USE_CASES:
        raise InvalidRequestError(
            f"unknown GenAI use case {use_case!r}; allowed: {', '.join(GENAI_USE_CASES)}", param="use_case"
        )
    if size not in MODEL_SIZES:
        raise InvalidRequestError(f"unknown size {size!r}; allowed: {', '.join(MODEL_SIZES)}", param="size")
    profile = GENAI_USE_CASES[use_case]
    return InferenceWorkload(MODEL_SIZES[size], profile.input_tokens, profile.output_tokens, profile.llm_calls, region)
