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
BOUNDARY = re.compile(r"[.!?]+[\"')\]]*(?=\s|$)|\n")
ABBREVIATIONS = frozenset({"dr", "mr", "mrs", "ms", "prof", "st", "vs", "etc", "jr", "sr"})
PARAGRAPH_BREAK = re.compile(r"\n\s*\n")
_FOLD = {ord("\u2019"): "'", ord("\u2018"): "'", ord("\u201c"): '"', ord("\u201d"): '"'}


def fold(text: str) -> str:
    """Straight quotes for curly ones; same length, so offsets carry over."""
    return text.translate(_FOLD)


def words(text: str) -> list[str]:
    return WORD.findall(text)


def sentences(text: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence holding at least one word; "Dr." and other titles do not end one."""
    spans, start = [], 0
    for boundary in [*BOUNDARY.finditer(text), None]:
        end = boundary.end() if boundary else len(text)
        if boundary and boundary.group().startswith(".") and _before(text, boundary.start()) in ABBREVIATIONS:
            continue
        chunk = text[start:end]
        if WORD.search(chunk):
            spans.append((start + len(chunk) - len(chunk.lstrip()), start + len(chunk.rstrip())))
        start = end
    return spans


def _before(text: str, index: int) -> str:
    word = re.search(r"(\w+)$", text[max(0, index - 12) : index])
    return word.group(1).lower() if word else ""


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


def word_refusal(text: object, min_words: int) -> str | None:
    """Why `text` gets no verdict (empty, or fewer than `min_words` words), or None when it can have one."""
    if not isinstance(text, str) or not text.strip():
        return "empty: nothing to score"
    count = len(words(text))
    if count < min_words:
        return f"{count} words, fewer than the minimum {min_words}: a verdict this short is a guess"
    return None


def require_words(texts: Sequence[str], min_words: int) -> None:
    """Refuse (not guess on) an empty batch, a non-string, or a text with fewer than `min_words` words."""
    if not texts:
        raise InvalidRequestError("no text to score", param="texts")
    for index, text in enumerate(texts):
        reason = word_refusal(text, min_words)
        if reason is not None:
            raise InvalidRequestError(
                f"text {index}: {reason}; pass longer texts or lower min_words", param=f"texts[{index}]"
            )
