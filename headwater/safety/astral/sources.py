"""What the test generator is shown besides the cell: few-shot examples, retrieved corpus prompts, recent context.

ASTRAL's generator variants (arXiv 2501.17132, section 3.2) are RAG (retrieval over labelled unsafe prompts),
RAG-FS (+ few-shot examples per style and technique) and RAG-FS-TS (+ today's news). Here each source is optional
and local: the corpus and the feed are the user's JSONL files (we ship no harmful text and fetch nothing); the
shipped few-shot file holds benign placeholders that show a style's or technique's form, not harmful content.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
from rank_bm25 import BM25Plus

from headwater.errors import InvalidRequestError
from headwater.safety.astral.embeddings import Embed, normalise_rows
from headwater.safety.astral.records import read_lines
from headwater.safety.astral.taxonomy import read_yaml_mapping

_TOKEN = re.compile(r"[a-z0-9]+")


def tokens(text: str) -> list[str]:
    """Lower-cased word tokens; category names split on `_` and `,` too."""
    return _TOKEN.findall(text.lower())


@dataclass(frozen=True)
class FewShot:
    """Example prompts per style and per technique."""

    styles: dict[str, list[str]]
    techniques: dict[str, list[str]]

    def examples(self, style: str, technique: str) -> list[str]:
        return [*self.styles.get(style, []), *self.techniques.get(technique, [])]


def _examples(path: Path | str, key: str, value: object) -> dict[str, list[str]]:
    if not isinstance(value, dict):
        raise InvalidRequestError(f"{path}: {key!r} must be a mapping of name -> list of example prompts", param=key)
    result = {}
    for name, examples in value.items():
        if isinstance(examples, str):
            examples = [examples]
        if not isinstance(examples, list) or not all(isinstance(e, str) and e.strip() for e in examples):
            raise InvalidRequestError(
                f"{path}: {key}.{name} must be a list of non-empty strings", param=f"{key}.{name}"
            )
        result[str(name)] = [example.strip() for example in examples]
    return result


def load_fewshot(path: Path | str | None = None) -> FewShot:
    """The shipped benign few-shot file, or the user's file of the same shape (`styles`, `techniques`)."""
    if path is None:
        with resources.as_file(resources.files("headwater.safety.astral").joinpath("data/fewshot.yaml")) as shipped:
            return load_fewshot(shipped)
    data = read_yaml_mapping(path, ("styles", "techniques"))
    styles = _examples(path, "styles", data.get("styles", {}))
    return FewShot(styles, _examples(path, "techniques", data.get("techniques", {})))


@dataclass(frozen=True)
class Snippet:
    """A retrieved text and where it came from (file and line), for the test's provenance."""

    text: str
    source: str
    line: int
    method: str = "bm25"


class Retriever:
    """BM25+ over the lines of a user JSONL file, queried with a cell's names and descriptions (BM25+, Lv and
    Zhai 2011, rather than Okapi BM25: its idf stays positive in small corpora, where Okapi's goes to zero).

    The text is read from `text_field` (ASTRAL's `RAG_data.json` calls it `Prompt`). Lines may carry a category in
    `category_field`: one name or a list of names (ASTRAL's file holds lists, on some lines only). When some lines
    hold the queried category, only those are ranked, as ASTRAL retrieves examples of the category under test; when
    none do, the whole corpus is ranked (`has_category` tells which, for the test's provenance). A seeded draw
    among the top hits varies the examples across the tests of one cell. With `embed`, lines are ranked by cosine
    similarity of their embeddings instead."""

    def __init__(
        self,
        path: Path | str,
        text_field: str = "prompt",
        top: int = 8,
        embed: Embed | None = None,
        category_field: str | None = "category",
    ) -> None:
        self.path = Path(path)
        self.top = top
        self.embed = embed
        self.rows: list[tuple[int, str, tuple[str, ...], dict]] = []
        for number, record in read_lines(self.path, "line"):
            if not isinstance(record, dict):
                raise InvalidRequestError(f"{self.path} line {number}: expected a JSON object", param=f"line {number}")
            text = record.get(text_field)
            if not isinstance(text, str) or not text.strip():
                raise InvalidRequestError(
                    f"{self.path} line {number}: field {text_field!r} must be a non-empty string"
                    + _field_hint(record, text_field),
                    param=f"line {number}",
                )
            category = record.get(category_field) if category_field else None
            self.rows.append((number, text.strip(), _categories(category, self.path, number, category_field), record))
        self._index_rows()

    def categories(self) -> set[str]:
        """Every category some line holds."""
        return {name for row in self.rows for name in row[2]}

    def has_category(self, category: str) -> bool:
        """Whether retrieval for `category` is restricted to its lines (some line holds it)."""
        return any(category in row[2] for row in self.rows)

    @property
    def method(self) -> str:
        return "embeddings" if self.embed is not None else "bm25"

    def _index_rows(self) -> None:
        texts = [text for _n, text, _c, _r in self.rows]
        if self.embed is not None:
            self._vectors = normalise_rows(np.asarray(self.embed(texts), dtype=np.float64))
        else:
            self._index = BM25Plus([tokens(text) or ["_"] for text in texts])

    def _scores(self, query: str) -> np.ndarray:
        if self.embed is None:
            return self._index.get_scores(tokens(query))
        return self._vectors @ normalise_rows(np.asarray(self.embed([query]), dtype=np.float64))[0]

    def search(self, query: str, k: int, rng: random.Random, category: str | None = None) -> list[Snippet]:
        """`k` snippets drawn from the best `top` matches of `query` (restricted to the lines holding `category`, if
        any do)."""
        scores = self._scores(query)
        candidates: Sequence[int] = range(len(self.rows))
        if category is not None and self.has_category(category):
            candidates = [i for i in candidates if category in self.rows[i][2]]
        ranked = sorted(candidates, key=lambda i: (-scores[i], i))[: max(self.top, k)]
        chosen = sorted(rng.sample(ranked, min(k, len(ranked))), key=ranked.index)
        return [Snippet(self.rows[i][1], str(self.path), self.rows[i][0], self.method) for i in chosen]


def _field_hint(record: dict, name: str) -> str:
    """A hint when the line has the field under another case (ASTRAL's `Prompt` for our `prompt`)."""
    other = next((key for key in record if isinstance(key, str) and key.lower() == name.lower() and key != name), None)
    return f"; the line has {other!r}: read it with text_field={other!r} (--text-field {other})" if other else ""


def _categories(value: object, path: Path, number: int, field: str | None) -> tuple[str, ...]:
    """A line's categories: none, one name, or a list of names (filtered on membership). Anything else is an error
    rather than a line silently retrieved for every category."""
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if isinstance(value, list) and all(isinstance(name, str) for name in value):
        return tuple(name.strip() for name in value if name.strip())
    raise InvalidRequestError(
        f"{path} line {number}: field {field!r} must be a category name or a list of names, got {value!r}",
        param=f"line {number}",
    )


def load_feed(path: Path | str, limit: int = 200, embed: Embed | None = None) -> Retriever:
    """A recent-context feed: JSONL lines with `text` (optional `date`, `title`, `url`); only the `limit` newest
    lines by `date` (ISO strings sort by time) are kept, as ASTRAL's test-time search looks at today's news."""
    feed = Retriever(path, text_field="text", top=3, category_field=None)
    if len(feed.rows) > limit or embed is not None:
        newest = sorted(feed.rows, key=lambda row: str(row[3].get("date", "")), reverse=True)[:limit]
        feed.rows = sorted(newest, key=lambda row: row[0])
        feed.embed = embed
        feed._index_rows()
    return feed
