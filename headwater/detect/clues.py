"""The clue detector: interpretable clue features and a logistic regression fit on labelled texts.

It turns the expert guide of Russell, Karpinska and Iyyer (arXiv 2501.15654) into features (`clue_features`) and
lets labelled data weigh them, so every score comes with the clues behind it: each feature's contribution to the
logit (coefficient × standardised value), the exact quotes that fired and their category and side. Word lists
decay (the paper's experts cited vocabulary less once text was "humanised") and fire on human text too: re-fit on
recent data from your domain, and read a score as evidence, not proof. Saved as JSON, never pickle.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from headwater.detect.clue_features import FeatureValue, Lexicon, Span, extract
from headwater.detect.words import require_words, word_refusal
from headwater.errors import InvalidRequestError
from headwater.files import write_atomic

FORMAT = "headwater.clue_detector/1"


@dataclass(frozen=True)
class Contribution:
    """How much one feature pushed one text's logit towards AI (positive) or human (negative), and why."""

    name: str
    category: str
    side: str
    value: float
    contribution: float
    spans: tuple[Span, ...]


@dataclass(frozen=True)
class ClueExplanation:
    """P(AI), the label at 0.5, and the features that moved the score most (largest |contribution| first)."""

    score: float
    label: str
    features: list[Contribution]


def check_labels(labels: Sequence[str], count: int) -> np.ndarray:
    """1 for "ai", 0 for "human"; both classes required, one label per text."""
    if len(labels) != count:
        raise InvalidRequestError(f"{count} texts but {len(labels)} labels", param="labels")
    bad = sorted({str(label) for label in labels} - {"ai", "human"})
    if bad:
        raise InvalidRequestError(f"labels must be 'ai' or 'human', got {bad[:5]}", param="labels")
    y = np.array([label == "ai" for label in labels], dtype=int)
    if y.min() == y.max():
        raise InvalidRequestError("training needs both 'ai' and 'human' texts", param="labels")
    return y


class ClueDetector:
    """Lexicon rates + per-category features → standardise → logistic regression. `score` gives P(AI)."""

    higher_is_ai = True

    def __init__(self, lexicon: Lexicon | None = None, *, min_words: int = 40, c: float = 1.0) -> None:
        if min_words < 1:
            raise InvalidRequestError(f"min_words must be at least 1, got {min_words}", param="min_words")
        if c <= 0:
            raise InvalidRequestError(f"c (inverse regularisation) must be positive, got {c}", param="c")
        self.lexicon = lexicon or Lexicon.load()
        self.min_words, self.c = min_words, c
        self.feature_names: list[str] = []
        self.mean = self.scale = self.coef = np.zeros(0)
        self.intercept = 0.0

    @property
    def fitted(self) -> bool:
        return bool(self.feature_names)

    def features(self, text: str) -> list[FeatureValue]:
        return extract(text, self.lexicon)

    def _matrix(self, texts: Sequence[str]) -> np.ndarray:
        return np.array([[f.value for f in self.features(text)] for text in texts], dtype=float)

    def fit(self, texts: Sequence[str], labels: Sequence[str]) -> ClueDetector:
        """Fit the scaler and the regression on texts labelled "ai" or "human"."""
        y = check_labels(labels, len(texts))
        require_words(texts, self.min_words)
        x = self._matrix(texts)
        from sklearn.linear_model import LogisticRegression  # scikit-learn loads only when a detector is fitted
        from sklearn.preprocessing import StandardScaler

        scaler = StandardScaler().fit(x)
        model = LogisticRegression(C=self.c, max_iter=2000).fit(scaler.transform(x), y)
        self.feature_names = [f.name for f in self.features(texts[0])]
        self.mean, self.scale = scaler.mean_.astype(float), scaler.scale_.astype(float)
        self.coef, self.intercept = model.coef_[0].astype(float), float(model.intercept_[0])
        return self

    def _standardised(self, texts: Sequence[str]) -> tuple[list[list[FeatureValue]], np.ndarray]:
        """Each text's features and their standardised values; unfitted models and short texts are refused."""
        if not self.fitted:
            raise InvalidRequestError("the clue detector is not fitted: call fit() or load()", param="clue_model")
        require_words(texts, self.min_words)
        features = [self.features(text) for text in texts]
        values = np.array([[f.value for f in row] for row in features], dtype=float)
        return features, (values - self.mean) / self.scale

    def _probability(self, z: np.ndarray) -> np.ndarray:
        return 0.5 * (1 + np.tanh((z @ self.coef + self.intercept) / 2))

    def refusal(self, text: str) -> str | None:
        """Why `score` would refuse `text`, or None: lets a caller score the rest of a batch."""
        return word_refusal(text, self.min_words)

    def score(self, texts: Sequence[str]) -> list[float]:
        """P(AI) per text (`higher_is_ai = True`); texts under `min_words` words are refused."""
        return self._probability(self._standardised(texts)[1]).tolist()

    def explain(self, text: str, top: int = 8) -> ClueExplanation:
        """The `top` features by |contribution| to this text's logit, with the spans that fired."""
        (features,), z = self._standardised([text])
        probability = float(self._probability(z)[0])
        ranked = sorted(
            (
                Contribution(f.name, f.category, f.side, f.value, float(w * v), f.spans)
                for f, w, v in zip(features, self.coef, z[0], strict=True)
            ),
            key=lambda c: -abs(c.contribution),
        )
        return ClueExplanation(probability, "ai" if probability >= 0.5 else "human", ranked[:top])

    def save(self, path: Path) -> None:
        """JSON: coefficients, scaler, the whole lexicon (version, source, date) and settings."""
        data = {
            "format": FORMAT,
            "lexicon": self.lexicon.to_dict(),
            "feature_names": self.feature_names,
            "mean": self.mean.tolist(),
            "scale": self.scale.tolist(),
            "coef": self.coef.tolist(),
            "intercept": self.intercept,
            "min_words": self.min_words,
            "c": self.c,
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        write_atomic(path, json.dumps(data, indent=1))

    @classmethod
    def load(cls, path: Path) -> ClueDetector:
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise InvalidRequestError(f"{path} is not a saved clue detector: {error}", param="clue_model") from error
        return cls.from_dict(data, str(path))

    @classmethod
    def from_dict(cls, data: object, source: str = "the clue model") -> ClueDetector:
        """A detector from the JSON object `save` writes (read from a file, or sent to the platform), every field
        checked: a malformed one is an error naming `source`, never a half-built detector."""
        path = source
        try:
            if not isinstance(data, dict):
                raise InvalidRequestError("it is not a JSON object")
            if data.get("format") != FORMAT:
                raise InvalidRequestError(f"format is {data.get('format')!r}, expected {FORMAT!r}")
            detector = cls(Lexicon.from_dict(data["lexicon"]), min_words=int(data["min_words"]), c=float(data["c"]))
            detector.feature_names = list(data["feature_names"])
            detector.mean, detector.scale, detector.coef = (
                np.array(data[k], dtype=float) for k in ("mean", "scale", "coef")
            )
            detector.intercept = float(data["intercept"])
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
            raise InvalidRequestError(f"{path} is not a saved clue detector: {error}", param="clue_model") from error
        expected = [f.name for f in extract("x", detector.lexicon)]
        arrays = (detector.mean, detector.scale, detector.coef)
        if detector.feature_names != expected or any(a.shape != (len(expected),) for a in arrays):
            raise InvalidRequestError(f"{path}: features do not match its lexicon; re-train", param="clue_model")
        if not all(np.isfinite(a).all() for a in arrays) or not np.isfinite(detector.intercept) or 0 in detector.scale:
            raise InvalidRequestError(f"{path}: a weight is not a finite number (or a scale is 0)", param="clue_model")
        return detector
