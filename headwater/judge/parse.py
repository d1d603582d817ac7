"""Robust parsing of a judge's answer: `**Reasoning:** … **Result:** <verdict>` and the shapes models drift into.

The verdict binds to the *last* result marker (the echoed format block, the reasoning or the judged text may hold
earlier ones). A verdict that does not validate against the task's labels is a failure with a name, never a
guessed or clamped value.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

FAILURES = (
    "no_marker",
    "empty_verdict",
    "not_integer",
    "out_of_range",
    "tie",
    "unknown_label",
    "ambiguous",
    "truncated",
    "inconsistent",
    "no_majority",
)
"""Parse failures, plus the two a Judge derives: different winners in both orders, and a tied vote."""
_ZERO_WIDTH = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff"))
# A marker is [RESULT], a bold "**Result**" (colon inside or out), or a plain "Result:"; bare prose words
# ("this score is …") are not markers.
_WORD = r"(?:final\s+)?(?:result|score|verdict)"
_MARKER = re.compile(rf"\[RESULT\]|\*\*\s*{_WORD}\s*:?\s*\*\*\s*:?|(?<![\w*]){_WORD}\s*:", re.IGNORECASE)
_REASONING = re.compile(r"\*\*\s*reasoning\s*:?\s*\*\*\s*:?|(?<![\w*])reasoning\s*:", re.IGNORECASE)
_LONE_LETTER = re.compile(r"[\[(]*([ab])[\])]*[.!]?")
"""A pairwise verdict that is one lower-case letter, maybe bracketed: "b", "[[b]]", "b." (not "a" in prose)."""
_TIE = re.compile(r"\b(tie|both|neither|equal(?:ly)?|draw)\b", re.IGNORECASE)


@dataclass(frozen=True)
class Parsed:
    """A parsed verdict (int score or label), the reasoning, the raw text, and the failure's name if any."""

    verdict: int | str | None
    reasoning: str
    raw: str
    failure: str | None = None

    @property
    def ok(self) -> bool:
        return self.failure is None


@dataclass(frozen=True)
class Scale:
    """An absolute task's integer scale."""

    low: int = 1
    high: int = 5


def _verdict_text(text: str) -> tuple[str, str] | None:
    """(text before the last marker, the verdict text after it: its line, or the next non-empty one)."""
    markers = list(_MARKER.finditer(text))
    if not markers:
        return None
    last = markers[-1]
    after = text[last.end() :]
    lines = after.split("\n")
    verdict = lines[0].strip()
    if not verdict.strip("*_ `"):
        verdict = next((line.strip() for line in lines[1:] if line.strip().strip("*_ `")), "")
    return text[: last.start()], verdict.strip("*_ `")


def _reasoning(before: str) -> str:
    markers = list(_REASONING.finditer(before))
    start = markers[-1].end() if markers else 0
    return before[start:].strip()


def _score(verdict: str, scale: Scale) -> tuple[int | None, str | None]:
    match = re.search(r"-?\d+(?:[.,]\d+)?", verdict)
    if match is None:
        return None, "empty_verdict"
    number = match.group()
    if "." in number or "," in number:
        whole, _sep, fraction = number.replace(",", ".").partition(".")
        if fraction.strip("0"):
            return None, "not_integer"
        number = whole
    value = int(number)
    denominator = re.match(r"\s*(?:/|out\s+of)\s*(\d+)", verdict[match.end() :], re.IGNORECASE)
    if denominator and int(denominator.group(1)) != scale.high:
        return None, "out_of_range"
    if not scale.low <= value <= scale.high:
        return None, "out_of_range"
    return value, None


def _label(verdict: str, labels: tuple[str, ...], pairwise: bool) -> tuple[str | None, str | None]:
    if not verdict:
        return None, "empty_verdict"
    if pairwise and _TIE.search(verdict):
        return None, "tie"
    if pairwise and (lone := _LONE_LETTER.fullmatch(verdict)):
        verdict = lone.group(1).upper()
    cleaned = re.sub(r"\b(?:response|assistant|output|answer)\s+(?=[AB]\b)", "", verdict, flags=re.IGNORECASE)
    found = []
    for label in labels:
        flags = 0 if pairwise else re.IGNORECASE  # "a" in prose is not a verdict; "yes" and "Yes" both are
        if re.search(rf"(?<![\w]){re.escape(label)}(?![\w])", cleaned, flags):
            found.append(label)
    if len(found) > 1:
        return None, "tie" if pairwise else "ambiguous"
    if not found:
        return None, "unknown_label"
    return found[0], None


def parse(
    text: str,
    *,
    scale: Scale | None = None,
    labels: tuple[str, ...] = (),
    pairwise: bool = False,
    truncated: bool = False,
) -> Parsed:
    """Parse a judge's output for an absolute task (`scale`), a classification (`labels`) or a pairwise one."""
    raw = text
    text = text.translate(_ZERO_WIDTH)
    if truncated:
        return Parsed(None, "", raw, "truncated")
    found = _verdict_text(text)
    if found is None:
        return Parsed(None, "", raw, "no_marker")
    before, verdict_text = found
    reasoning = _reasoning(before)
    value: int | str | None
    if scale is not None:
        value, failure = _score(verdict_text, scale)
    else:
        value, failure = _label(verdict_text, labels or (("A", "B") if pairwise else ("Yes", "No")), pairwise)
    return Parsed(value, reasoning, raw, failure)
