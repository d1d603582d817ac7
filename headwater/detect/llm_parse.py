"""Parse an LLM detector's reply into label ("ai"/"human"), confidence 1–5 and explanation.

Shapes accepted: `Label: AI` / `Confidence: 4` / `Explanation: …` lines in either order, with markdown bold or
headings around the markers; other marker words (verdict, answer, classification, decision, prediction); JSON
objects (```json fenced or not); `Answer: Human (confidence 3/5)`; a bare first word "AI" or "Human". The *last*
label marker wins, as in `headwater.judge.parse`: a rationale or an echoed format block may hold earlier ones. A
reply that does not validate is a failure with a name, never a guessed or clamped value; a negated label ("not AI")
is refused as ambiguous rather than inverted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

ERRORS = (
    "empty_reply",
    "no_label",
    "ambiguous_label",
    "no_confidence",
    "confidence_out_of_range",
    "confidence_not_integer",
    "truncated",
)
"""Why a reply was refused; `truncated` is set by the detector when the generation hit its token limit."""
_NOISE = dict.fromkeys(map(ord, "*`#\u200b\u200c\u200d\u2060\ufeff"))
_LABEL = re.compile(
    r'(?<![\w])"?(?:final\s+)?(?:label|verdict|answer|classification|decision|prediction)"?\s*[:=]', re.IGNORECASE
)
_CONFIDENCE = re.compile(
    r'(?<![\w])"?confidence"?\s*(?:[:=]|is|of|level:?|score:?)?\s*"?(-?\d+(?:\.\d+)?)"?\s*(?:(?:/|out\s+of)\s*(\d+))?',
    re.IGNORECASE,
)
_EXPLANATION = re.compile(r'(?<![\w])"?(?:explanation|rationale|reasoning|reason)"?\s*[:=]', re.IGNORECASE)
_AI = re.compile(r"(?<![\w])(?:ai|a\.i\.|machine|llm|artificial(?:ly)?|generated|model-generated)(?![\w])", re.I)
_NEGATED = re.compile(r"(?:(?<![\w])not|n't|(?<![\w])never)\s+(?:an?\s+)?(?:ai|human|machine|person)(?![\w])", re.I)
_HUMAN = re.compile(r"(?<![\w])(?:human|person)(?![\w])", re.IGNORECASE)


@dataclass(frozen=True)
class ParsedReply:
    """A parsed reply; `error` names the first thing that failed, and label/confidence are then unreliable."""

    label: str | None
    confidence: int | None
    explanation: str
    error: str | None = None


def _label_in(segment: str) -> tuple[str | None, str | None]:
    segment = _CONFIDENCE.split(segment, maxsplit=1)[0]
    ai, human = bool(_AI.search(segment)), bool(_HUMAN.search(segment))
    if (ai and human) or _NEGATED.search(segment):  # "not AI" is a human verdict only by inference: refuse
        return None, "ambiguous_label"
    if not (ai or human):
        return None, "no_label"
    return ("ai" if ai else "human"), None


def _label(text: str) -> tuple[str | None, str | None]:
    markers = list(_LABEL.finditer(text))
    if not markers:
        first = re.match(r"\s*\W*(\w+(?:-\w+)?)", text)
        word = first.group(1).lower() if first else ""
        if word in ("ai", "ai-generated", "machine-generated"):
            return "ai", None
        if word in ("human", "human-written"):
            return "human", None
        return None, "no_label"
    lines = text[markers[-1].end() :].split("\n")
    segment = lines[0] if lines[0].strip(' "') else next((line for line in lines[1:] if line.strip()), "")
    return _label_in(re.split(r'",|\s,\s*"', segment)[0])


def _confidence(text: str) -> tuple[int | None, str | None]:
    matches = list(_CONFIDENCE.finditer(text))
    if not matches:
        return None, "no_confidence"
    number, denominator = matches[-1].group(1), matches[-1].group(2)
    value = float(number)
    if value != int(value):
        return None, "confidence_not_integer"
    if (denominator and int(denominator) != 5) or not 1 <= value <= 5:
        return None, "confidence_out_of_range"
    return int(value), None


def _explanation(text: str) -> str:
    markers = list(_EXPLANATION.finditer(text))
    if markers:
        rest = text[markers[-1].end() :]
        # the verdict block is the last label and confidence markers; earlier ones belong to the rationale
        ends = [found[-1].start() for found in (list(p.finditer(rest)) for p in (_LABEL, _CONFIDENCE)) if found]
        return rest[: min(ends, default=len(rest))].strip().strip('{}",').strip()
    found = sorted(
        (m.start(), m.end(), pattern is _LABEL) for pattern in (_LABEL, _CONFIDENCE) for m in pattern.finditer(text)
    )
    if not found:
        return text.strip()
    _start, end, is_label = found[-1]
    after = text[end:].partition("\n")[2] if is_label else text[end:]
    return after.lstrip(" ).,;:-\n").strip() or text[: found[0][0]].strip()


def parse_reply(text: str) -> ParsedReply:
    """Label, confidence and explanation from one reply; a failure names itself in `error`."""
    cleaned = text.translate(_NOISE).strip()
    if not cleaned:
        return ParsedReply(None, None, "", "empty_reply")
    label, label_error = _label(cleaned)
    confidence, confidence_error = _confidence(cleaned)
    error = label_error or confidence_error
    return ParsedReply(
        label if error is None else None, confidence if error is None else None, _explanation(cleaned), error
    )
