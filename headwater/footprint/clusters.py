"""The paper's use-case clusters (Desroches et al., arXiv 2501.14334): chat, RAG and agents at three model
sizes, and the traditional tabular, vision and NLP use cases."""

from __future__ import annotations

from dataclasses import dataclass

from headwater.errors import InvalidRequestError
from headwater.footprint.capgemini import InferenceWorkload, TraditionalWorkload
from headwater.footprint.factors import PORTFOLIO_REGION


@dataclass(frozen=True)
class TokenProfile:
    """Mean tokens per LLM call of a GenAI use case, its LLM calls, and the NLP inferences beside them
    (one per tool call for agents)."""

    input_tokens: float
    output_tokens: float
    llm_calls: float = 1.0
    nlp_calls: float = 0.0


GENAI_USE_CASES = {
    "chat": TokenProfile(126.89, 208.45),
    # The paper's text adds one NLP inference (embedding search) to RAG, but its Tables 1 and 33 are
    # reproduced only without it; we follow the tables (docs/footprint.md).
    "rag": TokenProfile(5333.0, 363.0),
    "agents": TokenProfile(405.65, 390.93, llm_calls=3.03, nlp_calls=3.03),
}
TRADITIONAL_USE_CASES = ("tabular", "vision", "nlp")
USE_CASES = (*GENAI_USE_CASES, *TRADITIONAL_USE_CASES)
MODEL_SIZES = {"8B": 8e9, "70B": 70e9, "405B": 405e9}


def cluster_workload(
    use_case: str, size: str | None = None, region: str = PORTFOLIO_REGION
) -> InferenceWorkload | TraditionalWorkload:
    """One inference of a paper cluster: ("chat", "70B") or ("vision", None)."""
    if use_case in TRADITIONAL_USE_CASES:
        if size is not None:
            raise InvalidRequestError(f"{use_case} is a traditional use case: it takes no size", param="size")
        return TraditionalWorkload(use_case, region)
    if use_case not in GENAI_USE_CASES:
        raise InvalidRequestError(f"unknown use case {use_case!r}; allowed: {', '.join(USE_CASES)}", param="use_case")
    if size not in MODEL_SIZES:
        raise InvalidRequestError(f"unknown size {size!r}; allowed: {', '.join(MODEL_SIZES)}", param="size")
    profile = GENAI_USE_CASES[use_case]
    return InferenceWorkload(
        MODEL_SIZES[size], profile.input_tokens, profile.output_tokens, profile.llm_calls, profile.nlp_calls, region
    )
