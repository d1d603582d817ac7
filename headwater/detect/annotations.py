"""Aggregating expert annotations (Russell, Karpinska, Iyyer, arXiv 2501.15654): strict majority votes, Fleiss'
kappa, per-annotator TPR/FPR against gold, and import of the study's JSON format."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from headwater.errors import InvalidRequestError

AI, HUMAN = "ai", "human"
_GROUND_TRUTH = {"AI-generated": AI, "Human-written": HUMAN}


def majority_vote(labels: Sequence[str]) -> str | None:
    """The strict majority label of one item, or None on a tie (ties are shown, never broken)."""
    if not labels:
        return None
    counts = Counter(labels).most_common()
    if len(counts) > 1 and counts[0][1] == counts[1][1]:
        return None
    return counts[0][0]


@dataclass(frozen=True)
class Kappa:
    """Fleiss' kappa over the items every rater count agreed on; the others are excluded and counted."""

    kappa: float
    items: int
    excluded: int


def fleiss_kappa(ratings: Sequence[Mapping[str, int]]) -> Kappa:
    """κ from per-item category counts n_ij: P_i = (Σ_j n_ij² − n)/(n(n−1)), p_j = Σ_i n_ij/(Nn),
    κ = (mean P_i − Σ_j p_j²)/(1 − Σ_j p_j²). Items whose rater count differs from the most common are excluded."""
    totals = [sum(item.values()) for item in ratings]
    if not totals:
        raise InvalidRequestError("no rated item", param="ratings")
    n = Counter(totals).most_common(1)[0][0]
    kept = [item for item, total in zip(ratings, totals, strict=True) if total == n]
    if n < 2:
        raise InvalidRequestError("Fleiss' kappa needs at least two ratings per item", param="ratings")
    categories = sorted({c for item in kept for c in item})
    agreement = [(sum(v * v for v in item.values()) - n) / (n * (n - 1)) for item in kept]
    shares = [sum(item.get(c, 0) for item in kept) / (len(kept) * n) for c in categories]
    chance = sum(p * p for p in shares)
    mean_agreement = sum(agreement) / len(agreement)
    kappa = 1.0 if chance == 1 else (mean_agreement - chance) / (1 - chance)
    return Kappa(kappa, len(kept), len(ratings) - len(kept))


def annotator_rates(guesses: Mapping[str, Mapping[str, str]], gold: Mapping[str, str]) -> dict[str, dict[str, float]]:
    """Per annotator: TPR (AI articles called AI) and FPR (human articles called AI) on the items they labelled."""
    rates = {}
    for annotator, labels in guesses.items():
        ai = [labels[item] == AI for item in labels if gold.get(item) == AI]
        human = [labels[item] == AI for item in labels if gold.get(item) == HUMAN]
        rates[annotator] = {
            "tpr": sum(ai) / len(ai) if ai else float("nan"),
            "fpr": sum(human) / len(human) if human else float("nan"),
            "n": float(len(ai) + len(human)),
        }
    return rates


@dataclass(frozen=True)
class StudyArticle:
    """One article of the study's JSON: its gold label, generator, and each annotator's guess."""

    key: str
    gold: str
    generation_model: str | None
    guesses: dict[str, str]
    confidences: dict[str, int]


def _label(value: object, where: str) -> str:
    text = str(value).strip().lower()
    if text.startswith("ai"):
        return AI
    if text.startswith("human"):
        return HUMAN
    raise InvalidRequestError(f"{where}: a guess must be AI-generated or Human-written, got {value!r}", param=where)


def load_study(path: Path) -> list[StudyArticle]:
    """Articles from the study's JSON: an object keyed "0".."N" with `ground_truth`, `generation_model` and, per
    annotator, a guess, a confidence and a comment (`issue` may be a string or an int and is ignored)."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise InvalidRequestError(f"cannot read {path}: {error}", param="file") from error
    if not isinstance(data, dict):
        raise InvalidRequestError(f"{path}: expected an object keyed by article number", param="file")
    articles = []
    for key, record in data.items():
        if not isinstance(record, dict) or record.get("ground_truth") not in _GROUND_TRUTH:
            raise InvalidRequestError(
                f"article {key}: ground_truth must be AI-generated or Human-written", param=f"{key}.ground_truth"
            )
        guesses, confidences = {}, {}
        for field, value in record.items():
            if field.endswith("_guess"):
                annotator = field[: -len("_guess")]
                guesses[annotator] = _label(value, f"{key}.{field}")
                confidence = record.get(f"{annotator}_confidence")
                if confidence is not None:
                    confidences[annotator] = int(confidence)
        articles.append(
            StudyArticle(
                str(key), _GROUND_TRUTH[record["ground_truth"]], record.get("generation_model"), guesses, confidences
            )
        )
    return articles
