"""Grammars for structured outputs: OpenAI's `response_format` (and a tool's parameter schema) as llguidance grammars.

llguidance (the Rust library behind OpenAI's own structured outputs and one of vLLM's backends) compiles a JSON
schema lazily against the tokenizer, so a request's matcher is ready in about a millisecond and each step's mask
costs well under one. The gateway builds and validates the grammar, so a bad schema is a 400 before any engine sees
it; the task executor builds one matcher per constrained request and the sampler masks that row only, so
constrained and free requests share a batch.

JSON is generated compact (no free whitespace between tokens): with flexible whitespace a small model can emit
spaces and newlines until its budget runs out, which is valid JSON only in theory.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, cast

import llguidance

if TYPE_CHECKING:
    from llguidance._lib import JsonCompileOptions  # declared in llguidance's stub only
    from transformers import PreTrainedTokenizerBase, PreTrainedTokenizerFast

from headwater.errors import HeadwaterError, InvalidRequestError

_JSON_OPTIONS: JsonCompileOptions = {"whitespace_flexible": False}


def json_schema_grammar(schema: dict[str, object]) -> str:
    """The grammar of JSON documents that validate against `schema`."""
    return llguidance.LLMatcher.grammar_from_json_schema(json.dumps(schema), overrides=_JSON_OPTIONS)


def json_object_grammar() -> str:
    """The grammar of `response_format: {"type": "json_object"}`: any JSON object."""
    return json_schema_grammar({"type": "object"})


def grammar_error(grammar: str) -> str | None:
    """Why `grammar` cannot be used (e.g. a schema keyword llguidance does not implement), or None if it can."""
    try:
        message = llguidance.LLMatcher.validate_grammar(grammar)
    except ValueError as error:
        return str(error)
    return message or None


class MatcherFactory:
    """Builds llguidance matchers for one model; the tokenizer conversion (up to ~0.3 s) runs once, on first use.

    It takes a way to get the tokenizer rather than the tokenizer, and calls it on that first use too: a llama.cpp
    TE has no other use for one, and loading it (with transformers) would lengthen every start by a second."""

    def __init__(self, tokenizer: Callable[[], PreTrainedTokenizerBase], vocab_size: int) -> None:
        self._tokenizer = tokenizer
        self._vocab_size = vocab_size
        self._converted: llguidance.LLTokenizer | None = None
        self._lock = threading.Lock()

    def matcher(self, grammar: str) -> llguidance.LLMatcher:
        """A fresh matcher at the start of `grammar`; raises ValueError if the grammar does not compile."""
        with self._lock:
            if self._converted is None:
                from llguidance.hf import from_tokenizer  # imports transformers

                try:  # llguidance reads a fast tokenizer's backend (a slow one fails here, with its error)
                    fast = cast("PreTrainedTokenizerFast", self._tokenizer())
                    self._converted = from_tokenizer(fast, n_vocab=self._vocab_size)
                except (OSError, ValueError, HeadwaterError) as error:  # the request fails, not the engine
                    raise InvalidRequestError(f"this model cannot take a grammar: its tokenizer: {error}") from error
        matcher = llguidance.LLMatcher(self._converted, grammar, log_level=0)
        if matcher.is_error():
            raise InvalidRequestError(f"the grammar does not compile: {matcher.get_error()}")
        return matcher
