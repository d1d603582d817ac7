"""Token ids → text, one delta at a time, and stop strings that cut the text where they start.

Decoding a growing sequence token by token is not the same as decoding it whole: byte-level BPE splits UTF-8
characters across tokens and some tokenizers merge spaces across token boundaries. `IncrementalDetokenizer`
re-decodes a short window (the approach vLLM uses) and holds back text that ends in an incomplete character.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

from transformers import PreTrainedTokenizerBase
from transformers.tokenization_utils_tokenizers import TokenizersBackend

_INCOMPLETE = "\ufffd"


class IncrementalDetokenizer:
    """Turns a stream of token ids into a stream of text deltas whose concatenation equals the full decode."""

    def __init__(self, tokenizer: PreTrainedTokenizerBase) -> None:
        self.tokenizer = tokenizer
        self.token_ids: list[int] = []
        self._prefix_offset = 0
        self._read_offset = 0
        self._decode = _decoder(tokenizer)

    def add(self, token_ids: list[int]) -> str:
        """Append tokens; return the text they complete (possibly empty)."""
        self.token_ids.extend(token_ids)
        prefix_text = self._decode(self.token_ids[self._prefix_offset : self._read_offset])
        new_text = self._decode(self.token_ids[self._prefix_offset :])
        if len(new_text) <= len(prefix_text) or new_text.endswith(_INCOMPLETE):
            return ""
        self._prefix_offset = self._read_offset
        self._read_offset = len(self.token_ids)
        return new_text[len(prefix_text) :]


def _decoder(tokenizer: PreTrainedTokenizerBase) -> Callable[[list[int]], str]:
    """`tokenizer.decode` without special tokens or clean-up. For a fast tokenizer that does not change how it
    decodes, that is its Rust tokenizer's own `decode`, called directly: the generic path converts the ids and goes
    through three Python layers, twice per streamed token (a sixth of the gateway's Python time per token at one
    stream, measured with py-spy: an engine step between tokens pushes that code out of the CPU caches)."""
    if isinstance(tokenizer, TokenizersBackend) and type(tokenizer)._decode is TokenizersBackend._decode:
        backend = tokenizer.backend_tokenizer
        return lambda ids: backend.decode(ids, skip_special_tokens=True)

    def decode(ids: list[int]) -> str:
        text = tokenizer.decode(ids, skip_special_tokens=True, clean_up_tokenization_spaces=False)
        return cast(str, text)  # one sequence decodes to one str

    return decode


class StopMatcher:
    """Finds the first stop string in streamed text; holds back text that could be the start of one."""

    def __init__(self, stops: list[str]) -> None:
        self.stops = [stop for stop in stops if stop]
        self._held = ""
        self._hold = max((len(stop) for stop in self.stops), default=1) - 1
        self.stopped = False

    def feed(self, text: str) -> str:
        """Text safe to emit now; sets `stopped` (and drops the rest) once a stop string appears."""
        if self.stopped:
            return ""
        self._held += text
        cut = min((i for i in (self._held.find(stop) for stop in self.stops) if i >= 0), default=-1)
        if cut >= 0:
            self.stopped = True
            emitted, self._held = self._held[:cut], ""
            return emitted
        if self._hold == 0:
            emitted, self._held = self._held, ""
            return emitted
        emitted, self._held = self._held[: -self._hold], self._held[-self._hold :]
        return emitted

    def flush(self) -> str:
        """At the end of generation: whatever was held back, which is not a stop string."""
        emitted, self._held = ("" if self.stopped else self._held), ""
        return emitted
