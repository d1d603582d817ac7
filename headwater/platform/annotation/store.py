"""Durable annotation sets: articles, who must label which, and the labels given (same database as the platform).

A set is loaded in one transaction after every line has been checked, so a bad line leaves nothing behind. Each
annotator sees every article of the sets assigned to them, in an order shuffled per annotator (seeded by name) so
position effects average out across the panel; gold labels, sources, detector scores and others' answers never
leave the admin routes.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import JSON, DateTime, ForeignKey, Integer, String, Text, UniqueConstraint, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

from headwater.errors import ConflictError, InvalidRequestError, NotFoundError

LABELS = ("ai", "human")
SET_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")


def _now() -> datetime:
    return datetime.now(UTC)


class _Base(DeclarativeBase):
    pass


class SetRow(_Base):
    __tablename__ = "annotation_sets"
    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)


class ArticleRow(_Base):
    __tablename__ = "annotation_articles"
    __table_args__ = (UniqueConstraint("set_name", "external_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    set_name: Mapped[str] = mapped_column(ForeignKey("annotation_sets.name"), index=True)
    external_id: Mapped[str] = mapped_column(String(200))
    title: Mapped[str] = mapped_column(String(500), default="")
    text: Mapped[str] = mapped_column(Text)
    gold: Mapped[str | None] = mapped_column(String(8), nullable=True)
    source: Mapped[str | None] = mapped_column(String(200), nullable=True)
    scores: Mapped[dict] = mapped_column(JSON, default=dict)


class AssignmentRow(_Base):
    __tablename__ = "annotation_assignments"
    article_id: Mapped[int] = mapped_column(ForeignKey("annotation_articles.id"), primary_key=True)
    annotator: Mapped[str] = mapped_column(String(64), primary_key=True)
    position: Mapped[int] = mapped_column(Integer)


class AnnotationRow(_Base):
    __tablename__ = "annotations"
    __table_args__ = (UniqueConstraint("article_id", "annotator"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    article_id: Mapped[int] = mapped_column(ForeignKey("annotation_articles.id"), index=True)
    annotator: Mapped[str] = mapped_column(String(64), index=True)
    label: Mapped[str] = mapped_column(String(8))
    confidence: Mapped[int] = mapped_column(Integer)
    highlights: Mapped[list] = mapped_column(JSON, default=list)
    explanation: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)


@dataclass(frozen=True)
class Article:
    """An article as loaded: what annotators read, plus what only admins see (gold, source, detector scores)."""

    id: str
    text: str
    title: str = ""
    gold: str | None = None
    source: str | None = None
    scores: dict[str, float] | None = None


@dataclass(frozen=True)
class Highlight:
    """A span of the article's text (character offsets, end excluded), optionally tagged with a clue category."""

    start: int
    end: int
    category: str = ""


@dataclass(frozen=True)
class Annotation:
    """One annotator's answer for one article."""

    label: str
    confidence: int
    highlights: tuple[Highlight, ...] = ()
    explanation: str = ""


def _check_annotation(annotation: Annotation, text: str) -> None:
    if annotation.label not in LABELS:
        raise InvalidRequestError(f"label must be 'ai' or 'human', got {annotation.label!r}", param="label")
    if not 1 <= annotation.confidence <= 5:
        raise InvalidRequestError(f"confidence must be 1 to 5, got {annotation.confidence}", param="confidence")
    for index, span in enumerate(annotation.highlights):
        if not 0 <= span.start < span.end <= len(text):
            raise InvalidRequestError(
                f"highlight {index} ({span.start}, {span.end}) is outside the article's {len(text)} characters",
                param=f"highlights.{index}",
            )


class AnnotationStore:
    """Sets, assignments and annotations on the platform's SQLAlchemy engine."""

    def __init__(self, engine: Engine) -> None:
        _Base.metadata.create_all(engine)
        self._session = sessionmaker(engine, expire_on_commit=False)

    def load_set(self, name: str, articles: list[Article], annotators: list[str]) -> int:
        """Create set `name` with `articles`, each assigned to every annotator; returns the article count."""
        if not SET_NAME.fullmatch(name):
            raise InvalidRequestError(
                f"set name {name!r}: use 1 to 100 letters, digits, '.', '_' or '-', starting with a letter or digit",
                param="name",
            )
        if not articles:
            raise InvalidRequestError("a set needs at least one article", param="articles")
        ids = [article.id for article in articles]
        duplicate = next((i for i in ids if ids.count(i) > 1), None)
        if duplicate is not None:
            raise InvalidRequestError(f"article id {duplicate!r} appears twice", param="articles.id")
        with self._session.begin() as session:
            if session.get(SetRow, name) is not None:
                raise ConflictError(f"a set called {name!r} already exists; pick another name", param="name")
            session.add(SetRow(name=name))
            session.flush()
            rows = [
                ArticleRow(
                    set_name=name,
                    external_id=a.id,
                    title=a.title,
                    text=a.text,
                    gold=a.gold,
                    source=a.source,
                    scores=a.scores or {},
                )
                for a in articles
            ]
            session.add_all(rows)
            session.flush()
            self._assign(session, rows, annotators)
        return len(articles)

    def assign(self, name: str, annotators: list[str]) -> None:
        """Give every article of set `name` to more annotators (those already assigned keep their order)."""
        with self._session.begin() as session:
            rows = list(session.scalars(select(ArticleRow).where(ArticleRow.set_name == name)))
            if not rows:
                raise NotFoundError(f"no annotation set {name!r}", param="name")
            taken = set(session.scalars(select(AssignmentRow.annotator).where(AssignmentRow.article_id == rows[0].id)))
            self._assign(session, rows, [a for a in annotators if a not in taken])

    @staticmethod
    def _assign(session: Session, rows: list[ArticleRow], annotators: list[str]) -> None:
        for annotator in dict.fromkeys(annotators):
            order = list(range(len(rows)))
            random.Random(f"{rows[0].set_name}/{annotator}").shuffle(order)
            session.add_all(
                AssignmentRow(article_id=rows[i].id, annotator=annotator, position=p) for p, i in enumerate(order)
            )

    def next_article(self, annotator: str) -> tuple[int, ArticleRow, int, int] | None:
        """(row id, article, done, assigned) of the annotator's next unlabelled article, or None when all are done."""
        with self._session() as session:
            assigned = list(
                session.scalars(
                    select(AssignmentRow.article_id)
                    .join(ArticleRow, ArticleRow.id == AssignmentRow.article_id)
                    .join(SetRow, SetRow.name == ArticleRow.set_name)
                    .where(AssignmentRow.annotator == annotator)
                    .order_by(SetRow.created_at, SetRow.name, AssignmentRow.position)
                )
            )
            done = set(session.scalars(select(AnnotationRow.article_id).where(AnnotationRow.annotator == annotator)))
            pending = [article_id for article_id in assigned if article_id not in done]
            if not pending:
                return None
            return pending[0], session.get_one(ArticleRow, pending[0]), len(assigned) - len(pending), len(assigned)

    def submit(self, annotator: str, article_id: int, annotation: Annotation) -> None:
        """Record an answer; only for an assigned article, once."""
        with self._session.begin() as session:
            if session.get(AssignmentRow, (article_id, annotator)) is None:
                raise NotFoundError(f"article {article_id} is not assigned to {annotator}", param="article_id")
            article = session.get_one(ArticleRow, article_id)
            _check_annotation(annotation, article.text)
            exists = session.scalar(
                select(AnnotationRow.id).where(
                    AnnotationRow.article_id == article_id, AnnotationRow.annotator == annotator
                )
            )
            if exists is not None:
                raise ConflictError(f"article {article_id} is already annotated by {annotator}", param="article_id")
            session.add(
                AnnotationRow(
                    article_id=article_id,
                    annotator=annotator,
                    label=annotation.label,
                    confidence=annotation.confidence,
                    highlights=[vars(h) for h in annotation.highlights],
                    explanation=annotation.explanation,
                )
            )

    def set_names(self) -> list[str]:
        with self._session() as session:
            return list(session.scalars(select(SetRow.name).order_by(SetRow.created_at)))

    def set_contents(self, name: str) -> tuple[list[ArticleRow], list[AnnotationRow], list[str]]:
        """The set's articles, their annotations and the annotators assigned to it."""
        with self._session() as session:
            if session.get(SetRow, name) is None:
                raise NotFoundError(f"no annotation set {name!r}; loaded sets: {self.set_names()}", param="name")
            articles = list(
                session.scalars(select(ArticleRow).where(ArticleRow.set_name == name).order_by(ArticleRow.id))
            )
            ids = [a.id for a in articles]
            annotations = list(
                session.scalars(
                    select(AnnotationRow).where(AnnotationRow.article_id.in_(ids)).order_by(AnnotationRow.id)
                )
            )
            annotators = sorted(
                set(session.scalars(select(AssignmentRow.annotator).where(AssignmentRow.article_id.in_(ids))))
            )
            return articles, annotations, annotators
