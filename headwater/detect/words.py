"""Words, sentences and paragraphs of a text, and the minimum-length check that the text-based detectors share.

Counting is deliberately simple (regexes, no tokenizer download) so a clue rate means the same on every machine.
Curly quotes are folded to straight ones character for character, so spans found on the folded text index into
the original.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from headwater.errors import InvalidRequestError

WORD = re.compile(r"[^\W_]+(?:['\-][^\W_]+)*")
SENTENCE = re.compile(r"[^.!?\n]+(?:[.!?]+[\"')\]]*|$)", re.MULTILINE)
PARAGRAPH_BREAK = re.compile(r"\n\s*\n")
_FOLD = {ord("\u2019"): "'", ord("\u2018"): "'", ord("\u201c"): '"', ord("\u201d"): '"'}


def fold(text: str) -> str:
    """Straight quotes for curly ones; same length, so offsets carry over."""
    return text.translate(_FOLD)


def words(text: str) -> list[str]:
    return WORD.findall(text)


def sentences(text: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence holding at least one word."""
    found = (m for m in SENTENCE.finditer(text) if WORD.search(m.group()))
    return [(m.start() + len(m.group()) - len(m.group().lstrip()), m.end()) for m in found]


def paragraphs(text: str) -> list[tuple[int, int]]:
    """(start, end) of each non-blank paragraph (blank-line separated), stripped of surrounding whitespace."""
    spans, start = [], 0
    for brk in [*PARAGRAPH_BREAK.finditer(text), None]:
        end = brk.start() if brk else len(text)
        chunk = text[start:end]
        if chunk.strip():
            lead = len(chunk) - len(chunk.lstrip())
            spans.append((start + lead, start + len(chunk.rstrip())))
        start = brk.end() if brk else len(text)
    return spans


def require_words(texts: Sequence[str], min_words: int) -> None:
    """Refuse (not guess on) an empty batch, a non-string, or a text with fewer than `min_words` words."""
    if not texts:
        raise InvalidRequestError("no text to score", param="texts")
    for index, text in enumerate(texts):
        if not isinstance(text, str) or not text.strip():
            raise InvalidRequestError(f"text {index} is empty: nothing to score", param=f"texts[{index}]")
        count = len(words(text))
        if count < min_words:
            raise InvalidRequestError(
                f"text {index} has {count} words, fewer than the minimum {min_words}: a verdict this short is a "
                "guess; pass longer texts or lower min_words",
                param=f"texts[{index}]",
            )
