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
from typing import TYPE_CHECKING, cast

import llguidance
import llguidance.hf
from transformers import PreTrainedTokenizerBase, PreTrainedTokenizerFast

if TYPE_CHECKING:
    from llguidance._lib import JsonCompileOptions  # declared in llguidance's stub only

from headwater.errors import InvalidRequestError

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
    """Builds llguidance matchers for one model; the tokenizer conversion (up to ~0.3 s) runs once, on first use."""

    def __init__(self, tokenizer: PreTrainedTokenizerBase, vocab_size: int) -> None:
        self._tokenizer = tokenizer
        self._vocab_size = vocab_size
        self._converted: llguidance.LLTokenizer | None = None
        self._lock = threading.Lock()

    def matcher(self, grammar: str) -> llguidance.LLMatcher:
        """A fresh matcher at the start of `grammar`; raises ValueError if the grammar does not compile."""
        with self._lock:
            if self._converted is None:
                # llguidance reads a fast tokenizer's backend (a slow one fails here, with llguidance's error)
                fast = cast(PreTrainedTokenizerFast, self._tokenizer)
                self._converted = llguidance.hf.from_tokenizer(fast, n_vocab=self._vocab_size)
        matcher = llguidance.LLMatcher(self._converted, grammar, log_level=0)
        if matcher.is_error():
            raise InvalidRequestError(f"the grammar does not compile: {matcher.get_error()}")
        return matcher
