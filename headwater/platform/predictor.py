"""The output-length predictor of DeepFlow's Algorithm 1: which 128-token bucket a request's completion falls in.

The paper trains a small classifier (84.9 % accurate) on its own traces. Ours learns from what the platform
already logs for every request (the jobs table: model, kind, prompt and completion token counts; no prompt text
is stored, so there is nothing for a tenant to opt out of): for each (model, kind, prompt-length bin) the
completion buckets seen, predicting the most frequent, backing off to (prompt-length bin) and then to all rows
when a cell has too few. Saved as JSON (no pickle). An untrained predictor returns `HEURISTIC_BUCKET`: bucket 1
(128–255 tokens), where the median of ShareGPT-like answers falls (e^5 ≈ 148 tokens, `headwater.platform.loadgen`).
"""

from __future__ import annotations

import json
import math
import zlib
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from headwater.errors import InvalidRequestError

BUCKET_TOKENS = 128
HEURISTIC_BUCKET = 1
MIN_CELL = 5
"""Rows a cell needs before its own majority is trusted over the back-off."""
FORMAT = "headwater-length-predictor/1"
_FIX = "; write it again with `headwater scheduler train-predictor`"


@dataclass(frozen=True)
class LoggedRequest:
    """One logged request, as the jobs table holds it."""

    id: str
    model: str
    kind: str
    prompt_tokens: int
    completion_tokens: int

    @property
    def bucket(self) -> int:
        return self.completion_tokens // BUCKET_TOKENS


def length_bin(prompt_tokens: int) -> int:
    """Prompt lengths by powers of two (0: up to 1 token, 1: 2, 2: 3–4, …)."""
    return max(0, math.ceil(math.log2(max(1, prompt_tokens))))


@dataclass
class LengthPredictor:
    """Most frequent completion bucket per (model, kind, length bin), with back-off; empty = untrained."""

    cells: dict[str, Counter[int]] = field(default_factory=dict)

    @property
    def trained(self) -> bool:
        return bool(self.cells)

    def fit(self, rows: Iterable[LoggedRequest]) -> LengthPredictor:
        for row in rows:
            for key in _keys(row.model, row.kind, row.prompt_tokens):
                self.cells.setdefault(key, Counter())[row.bucket] += 1
        return self

    def predict(self, model: str, kind: str, prompt_tokens: int) -> int:
        """The predicted bucket (completion tokens // 128)."""
        for key in _keys(model, kind, prompt_tokens):
            counts = self.cells.get(key)
            if counts and (sum(counts.values()) >= MIN_CELL or key == "*"):
                return min(counts, key=lambda bucket: (-counts[bucket], bucket))
        return HEURISTIC_BUCKET

    def accuracy(self, rows: list[LoggedRequest]) -> float:
        if not rows:
            return float("nan")
        return sum(self.predict(r.model, r.kind, r.prompt_tokens) == r.bucket for r in rows) / len(rows)

    def save(self, path: Path) -> None:
        cells = {key: {str(b): n for b, n in sorted(counts.items())} for key, counts in sorted(self.cells.items())}
        path.write_text(json.dumps({"format": FORMAT, "bucket_tokens": BUCKET_TOKENS, "cells": cells}, indent=1))

    @classmethod
    def load(cls, path: Path) -> LengthPredictor:
        """Read a saved predictor; InvalidRequestError (a ValueError, the catalogue's `predictor` field) saying
        what is wrong with the file (the caller keeps serving)."""
        try:
            document = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as error:
            raise InvalidRequestError(
                f"cannot read the length predictor {path}: {error}{_FIX}", param="predictor"
            ) from None
        if not isinstance(document, dict) or document.get("format") != FORMAT:
            raise InvalidRequestError(
                f"{path} is not a length predictor (expected format {FORMAT!r}){_FIX}", param="predictor"
            )
        try:
            cells = {
                key: Counter({int(b): int(n) for b, n in counts.items()}) for key, counts in document["cells"].items()
            }
        except (KeyError, AttributeError, TypeError, ValueError) as error:
            raise InvalidRequestError(f"{path}: malformed cells ({error}){_FIX}", param="predictor") from None
        return cls(cells)


def _keys(model: str, kind: str, prompt_tokens: int) -> list[str]:
    """Most specific first: the back-off chain of a request."""
    length = length_bin(prompt_tokens)
    return [f"{model}|{kind}|{length}", f"*|*|{length}", "*"]


def split(rows: list[LoggedRequest], held_out: float = 0.2) -> tuple[list[LoggedRequest], list[LoggedRequest]]:
    """A deterministic train/held-out split by a hash of each job id (the same rows land on the same side)."""
    cut = int(held_out * 1000)
    test = [row for row in rows if zlib.crc32(row.id.encode()) % 1000 < cut]
    chosen = {row.id for row in test}
    return [row for row in rows if row.id not in chosen], test


def train(rows: list[LoggedRequest], held_out: float = 0.2) -> tuple[LengthPredictor, dict[str, float | int]]:
    """Held-out accuracy of a fit on the training side, next to the untrained heuristic's and the majority
    bucket's; the returned predictor is then fit on every row."""
    training, test = split(rows, held_out)
    predictor = LengthPredictor().fit(training)
    majority = Counter(row.bucket for row in training).most_common(1)[0][0] if training else HEURISTIC_BUCKET
    report: dict[str, float | int] = {
        "train_rows": len(training),
        "held_out_rows": len(test),
        "held_out_accuracy": predictor.accuracy(test),
        "heuristic_accuracy": LengthPredictor().accuracy(test),
        "majority_accuracy": sum(row.bucket == majority for row in test) / len(test) if test else float("nan"),
    }
    return LengthPredictor().fit(rows), report
