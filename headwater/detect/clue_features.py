"""Clue features: per-1000-word rates of a versioned lexicon, plus one feature group per clue category.

The categories and sides follow the expert detection guide's taxonomy in Russell, Karpinska and Iyyer (arXiv
2501.15654, ACL 2025): vocabulary, sentence structure, grammar/punctuation, formatting, quotes, names/titles,
tone, formality, introductions and conclusions, each with an AI side and a human side. A feature's `side` is the
side its clue points to when the feature is high; the fitted model decides how much it actually counts.
"""

from __future__ import annotations

import json
import re
import statistics
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from headwater.detect.words import fold, paragraphs, sentences, words
from headwater.errors import InvalidRequestError

Span = tuple[int, int, str]
"""(start, end, exact quote) in the original text: text[start:end] == quote."""


@dataclass(frozen=True)
class LexiconEntry:
    """One clue: a case-insensitive regex, its category and the side (ai or human) it points to."""

    id: str
    pattern: str
    category: str
    side: str


@dataclass(frozen=True)
class Lexicon:
    """A versioned clue list with its source and date, so a saved model says which clues it was fit on."""

    version: str
    date: str
    source: str
    entries: tuple[LexiconEntry, ...]

    @classmethod
    def from_dict(cls, data: dict) -> Lexicon:
        try:
            entries = tuple(
                LexiconEntry(**{k: e[k] for k in ("id", "pattern", "category", "side")}) for e in data["entries"]
            )
            lexicon = cls(str(data["version"]), str(data["date"]), str(data["source"]), entries)
        except (KeyError, TypeError) as error:
            raise InvalidRequestError(f"not a clue lexicon: missing {error}", param="lexicon") from error
        for entry in entries:
            if entry.side not in ("ai", "human"):
                raise InvalidRequestError(f"entry {entry.id!r}: side must be ai or human", param="lexicon.side")
            try:
                re.compile(entry.pattern)
            except re.error as error:
                raise InvalidRequestError(
                    f"entry {entry.id!r}: bad pattern ({error})", param="lexicon.pattern"
                ) from error
        return lexicon

    def to_dict(self) -> dict:
        entries = [vars(entry) for entry in self.entries]
        return {"version": self.version, "date": self.date, "source": self.source, "entries": entries}

    @classmethod
    def load(cls, path: Path | None = None) -> Lexicon:
        """The shipped lexicon (`headwater/detect/data/clue_lexicon.json`) or one from `path`."""
        if path is None:
            return cls.from_dict(
                json.loads(resources.files(__package__).joinpath("data/clue_lexicon.json").read_text())
            )
        try:
            return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))
        except (OSError, ValueError) as error:
            raise InvalidRequestError(f"cannot read lexicon {path}: {error}", param="lexicon") from error


@dataclass(frozen=True)
class FeatureValue:
    """One feature of one text, with the spans that made it fire."""

    name: str
    category: str
    side: str
    value: float
    spans: tuple[Span, ...] = ()


TRIAD = re.compile(r"\b[\w'-]+(?: [\w'-]+)?, [\w'-]+(?: [\w'-]+)?,? and [\w'-]+", re.IGNORECASE)
BOLD_HEADER = re.compile(r"^\s*(?:[-*\d.]+\s+)?\*\*[^*\n]+\*\*:?|^\s*#{1,6} \S.*$", re.MULTILINE)
TYPO = re.compile(r"\b(\w+) \1\b|\s[,.;:](?!\d)|(?<=[.!?] )[a-z]|(?<= )i(?= )")  # case matters: "i", ". lower"
SUMMARY = re.compile(
    r"\b(?:in conclusion|ultimately|in summary|overall|as we look|in the end|the future (?:is|looks) bright)\b", re.I
)
TERMINAL = (".", "!", "?", '."', '!"', '?"', ".'", ")")


def _spans(pattern: re.Pattern[str], folded: str, original: str) -> tuple[Span, ...]:
    return tuple((m.start(), m.end(), original[m.start() : m.end()]) for m in pattern.finditer(folded))


def _cv(lengths: list[int]) -> float:
    """Coefficient of variation: 0 for uniform lengths (an AI clue), larger for untidy human ones."""
    if len(lengths) < 2 or not statistics.mean(lengths):
        return 0.0
    return statistics.pstdev(lengths) / statistics.mean(lengths)


def _structure(text: str, folded: str, per_k: float) -> list[FeatureValue]:
    """Clues that are shapes, not words: lengths, lists, quote-ended paragraphs, endings."""
    sents = sentences(folded)
    paras = paragraphs(folded)
    quote_ended = [(s, e) for s, e in paras if folded[s:e].rstrip().endswith('"')]
    last = sents[-1] if sents else (0, 0)
    ending = folded.rstrip()
    untidy = not ending.endswith(TERMINAL) or ending.endswith(("...", "-"))
    closing = [(s, e) for s, e in sents[-2:] if SUMMARY.search(folded[s:e])]
    upbeat = tuple((s, e, text[s:e]) for s, e in closing)
    last_span = ((last[0], last[1], text[last[0] : last[1]]),)
    triads, headers, typos = (_spans(p, folded, text) for p in (TRIAD, BOLD_HEADER, TYPO))
    return [
        FeatureValue(
            "sentence_length_cv", "sentence_structure", "human", _cv([len(words(folded[s:e])) for s, e in sents])
        ),
        FeatureValue("triads", "sentence_structure", "ai", len(triads) * per_k, triads),
        FeatureValue("paragraph_length_cv", "formatting", "human", _cv([len(words(folded[s:e])) for s, e in paras])),
        FeatureValue("bold_header_lines", "formatting", "ai", len(headers) * per_k, headers),
        FeatureValue("typo_proxies", "grammar_punctuation", "human", len(typos) * per_k, typos),
        FeatureValue(
            "quote_ended_paragraphs",
            "quotes",
            "ai",
            len(quote_ended) / max(len(paras), 1),
            tuple((q, e, text[q:e]) for q, e in ((max(s, folded.rfind('"', s, e - 1)), e) for s, e in quote_ended)),
        ),
        FeatureValue("upbeat_summary_ending", "conclusions", "ai", float(bool(upbeat)), upbeat),
        FeatureValue("untidy_ending", "conclusions", "human", float(untidy), last_span if untidy else ()),
    ]


def extract(text: str, lexicon: Lexicon) -> list[FeatureValue]:
    """All features of `text`, always in the same order for the same lexicon."""
    folded = fold(text)
    per_k = 1000 / max(len(words(folded)), 1)
    entries = []
    for entry in lexicon.entries:
        spans = _spans(re.compile(entry.pattern, re.IGNORECASE), folded, text)
        entries.append(FeatureValue(f"lexicon.{entry.id}", entry.category, entry.side, len(spans) * per_k, spans))
    groups = []
    for category in sorted({e.category for e in lexicon.entries}):
        for side in ("ai", "human"):
            members = [f for f in entries if f.category == category and f.side == side]
            if members:
                spans = tuple(sorted(s for f in members for s in f.spans))
                groups.append(
                    FeatureValue(f"{category}.{side}_clues", category, side, sum(f.value for f in members), spans)
                )
    return entries + groups + _structure(text, folded, per_k)
