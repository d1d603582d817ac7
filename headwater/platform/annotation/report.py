"""What the admin sees of a set: votes, strict majorities (ties shown), Fleiss' kappa, per-annotator rates against
gold, the panel's own rates, and the machine detectors' scores beside each article; and the export."""

from __future__ import annotations

import math
from collections import Counter, defaultdict

from headwater.detect.annotations import AI, HUMAN, annotator_rates, fleiss_kappa, majority_vote
from headwater.platform.annotation.store import AnnotationRow, AnnotationStore, ArticleRow


def _finite(value: float) -> float | None:
    """JSON has no NaN: rates with nothing to count become null."""
    return None if math.isnan(value) else value


def _panel_rates(articles: list[dict]) -> dict[str, float | None]:
    """The majority vote's own TPR/FPR on gold-labelled articles, ties counted as misses."""
    ai = [a["majority"] == AI for a in articles if a["gold"] == AI and a["votes"]]
    human = [a["majority"] == AI for a in articles if a["gold"] == HUMAN and a["votes"]]
    return {
        "tpr": sum(ai) / len(ai) if ai else None,
        "fpr": sum(human) / len(human) if human else None,
        "ties": sum(1 for a in articles if a["votes"] and a["majority"] is None),
    }


def _article(row: ArticleRow, answers: list[AnnotationRow]) -> dict:
    labels = [answer.label for answer in answers]
    return {
        "id": row.external_id,
        "title": row.title,
        "gold": row.gold,
        "source": row.source,
        "scores": row.scores,
        "votes": {answer.annotator: {"label": answer.label, "confidence": answer.confidence} for answer in answers},
        "counts": dict(Counter(labels)),
        "majority": majority_vote(labels),
    }


def set_summary(store: AnnotationStore, name: str) -> dict:
    """Everything the admin page shows for set `name`, as one JSON-ready object."""
    articles, annotations, annotators = store.set_contents(name)
    by_article: dict[int, list[AnnotationRow]] = defaultdict(list)
    for answer in annotations:
        by_article[answer.article_id].append(answer)
    rows = [_article(row, by_article[row.id]) for row in articles]
    rated = [row["counts"] for row in rows if sum(row["counts"].values()) >= 2]
    kappa = fleiss_kappa(rated) if rated else None
    gold = {row.external_id: row.gold for row in articles if row.gold in (AI, HUMAN)}
    guesses: dict[str, dict[str, str]] = {annotator: {} for annotator in annotators}
    for row in rows:
        for annotator, vote in row["votes"].items():
            guesses.setdefault(annotator, {})[row["id"]] = vote["label"]
    rates = {
        annotator: {key: _finite(value) for key, value in values.items()}
        for annotator, values in annotator_rates(guesses, gold).items()
    }
    done = Counter(answer.annotator for answer in annotations)
    return {
        "name": name,
        "articles": rows,
        "annotators": [{"name": a, "done": done[a], "assigned": len(articles), **rates[a]} for a in annotators],
        "kappa": None
        if kappa is None
        else {"kappa": _finite(kappa.kappa), "items": kappa.items, "excluded": kappa.excluded},
        "majority": _panel_rates(rows),
        "detectors": sorted({name for row in articles for name in row.scores}),
    }


def export_rows(store: AnnotationStore, name: str) -> list[dict]:
    """One row per annotation, with the highlighted quotes spelled out and the article's gold and source."""
    articles, annotations, _annotators = store.set_contents(name)
    by_id = {row.id: row for row in articles}
    rows = []
    for answer in annotations:
        article = by_id[answer.article_id]
        rows.append(
            {
                "set": name,
                "article": article.external_id,
                "annotator": answer.annotator,
                "label": answer.label,
                "confidence": answer.confidence,
                "highlights": [{**h, "quote": article.text[h["start"] : h["end"]]} for h in answer.highlights],
                "explanation": answer.explanation,
                "gold": article.gold,
                "source": article.source,
                "created_at": answer.created_at.isoformat(),
            }
        )
    return rows
