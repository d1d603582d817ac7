"""Log-probabilities as OpenAI returns them: per token of the returned content, with its exact bytes and the
most likely alternatives at that step.

The engine reports every generated token; the returned content is less when a stop string cuts it and never
shows special tokens (end of turn). `ContentLogprobs` returns the tokens that produced the content, special
tokens with empty `bytes` (they add nothing to it), and drops those a stop string cut off, so the `bytes` of all
entries concatenate to the content.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import lru_cache

from transformers import PreTrainedTokenizerBase
from transformers.convert_slow_tokenizer import bytes_to_unicode

from headwater.models.tokenizer_text import decode_text

_BYTE_TOKEN = re.compile(r"^<0x([0-9A-Fa-f]{2})>$")
_UNICODE_TO_BYTE = {char: byte for byte, char in bytes_to_unicode().items()}


@dataclass(frozen=True)
class TopLogprob:
    """One of the most likely tokens at a step."""

    token: str
    logprob: float
    bytes: bytes


@dataclass(frozen=True)
class TokenLogprob:
    """One generated token, its log-probability under the model, and the step's most likely tokens."""

    token: str
    logprob: float
    bytes: bytes = b""
    top: list[TopLogprob] = field(default_factory=list)


class TokenBytes:
    """The exact bytes a token contributes to the text, for OpenAI's logprobs `bytes`.

    Decoding one token alone gives U+FFFD for a piece of a multi-byte character; its real bytes come from the
    tokenizer's byte-level alphabet (GPT-2 style, e.g. Llama 3, SmolLM2, Qwen) or its byte-fallback tokens
    (`<0xE2>`, SentencePiece style), so the bytes of all tokens concatenate to the content.
    """

    def __init__(self, tokenizer: PreTrainedTokenizerBase) -> None:
        self.tokenizer = tokenizer
        self._byte_level = _decoder_type(tokenizer) == "ByteLevel"
        self._special = set(tokenizer.all_special_ids)
        self.of = lru_cache(maxsize=65536)(self._bytes)

    def _bytes(self, token_id: int) -> bytes:
        if token_id in self._special:  # end of turn and the like: never part of the returned text
            return b""
        piece = self.tokenizer.convert_ids_to_tokens(token_id)
        if not isinstance(piece, str) or token_id in self.tokenizer.added_tokens_decoder:
            return decode_text(self.tokenizer, [token_id]).encode()
        if self._byte_level and all(char in _UNICODE_TO_BYTE for char in piece):
            return bytes(_UNICODE_TO_BYTE[char] for char in piece)
        byte = _BYTE_TOKEN.match(piece)
        if byte:
            return bytes([int(byte.group(1), 16)])
        return decode_text(self.tokenizer, [token_id]).encode()


def _decoder_type(tokenizer: PreTrainedTokenizerBase) -> str | None:
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        return None
    decoder = json.loads(backend.to_str()).get("decoder") or {}
    return decoder.get("type")


class ContentLogprobs:
    """The logprob entries of one choice, released as the text they produced is released.

    A token is returned once any of its bytes is in the returned content (a special token once everything
    before it is); at the end, all are returned, unless a stop string cut the text."""

    def __init__(self, token_bytes: TokenBytes) -> None:
        self.token_bytes = token_bytes
        self._pending: list[tuple[int, TokenLogprob]] = []
        self._produced = 0
        self._returned = 0

    def add(self, token_ids: list[int], logprobs: list[float], tops: list[list[tuple[int, float]]]) -> None:
        """Tokens just generated, with their raw logprobs and (if asked) their steps' top tokens."""
        for position, (token_id, logprob) in enumerate(zip(token_ids, logprobs, strict=False)):
            top = [self._top(candidate, value) for candidate, value in tops[position]] if position < len(tops) else []
            entry = self._top(token_id, logprob)
            self._pending.append((self._produced, TokenLogprob(entry.token, logprob, entry.bytes, top)))
            self._produced += len(entry.bytes)

    def release(self, text: str, finished: bool = False, cut: bool = False) -> list[TokenLogprob]:
        """The entries of the tokens that `text`, the next piece of returned content, comes from; with `finished`,
        every entry left, unless a stop string `cut` the text."""
        self._returned += len(text.encode())
        count = 0
        for start, entry in self._pending:
            inside = start < self._returned or (not entry.bytes and start == self._returned)
            if not (inside or (finished and not cut)):
                break
            count += 1
        released = [entry for _, entry in self._pending[:count]]
        self._pending = self._pending[count:]
        return released

    def _top(self, token_id: int, logprob: float) -> TopLogprob:
        tokenizer = self.token_bytes.tokenizer
        return TopLogprob(decode_text(tokenizer, [token_id]), logprob, self.token_bytes.of(token_id))
