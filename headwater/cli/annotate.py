"""`headwater detect annotate load|serve|status|export`: the expert-annotation app and its data.

The app is also served by `headwater up` / `headwater serve` at /annotate; `annotate serve` runs it alone, with no
model. Everything lives in the platform's store (the data folder's SQLite by default), so the commands and a
running server see the same sets.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
import uvicorn
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from headwater.cli.options import Json, fail
from headwater.cli.serve import admin_key, check_port_free
from headwater.config import Settings
from headwater.errors import HeadwaterError, InvalidRequestError
from headwater.files import write_atomic
from headwater.jsonl import read_jsonl
from headwater.platform.annotation.report import export_rows, set_summary
from headwater.platform.annotation.routes import ArticleIn
from headwater.platform.annotation.store import AnnotationStore, Article
from headwater.platform.store import Store

app = typer.Typer(
    help="Expert annotation: load article sets, serve the web app, see votes and kappa, export.", no_args_is_help=True
)
out = Console()
err = Console(stderr=True)
DataDir = Annotated[Path, typer.Option(help="Platform data folder (store and keys); default .headwater.")]
SetName = Annotated[str, typer.Argument(help="The set's name.")]


@contextmanager
def _stores(data_dir: Path) -> Iterator[tuple[Store, AnnotationStore]]:
    """The platform store and its annotations, closed after the block; a HeadwaterError in it fails the command."""
    store = Store(Settings(data_dir=data_dir).resolved_store_url)
    try:
        yield store, AnnotationStore(store.engine)
    except HeadwaterError as error:
        raise fail(error) from None
    finally:
        store.engine.dispose()


def _articles(path: Path) -> list[Article]:
    articles = []
    for number, row in read_jsonl(path, "article"):
        try:
            item = ArticleIn.model_validate(row)
        except ValidationError as error:
            first = error.errors()[0]
            field = ".".join(str(part) for part in first["loc"]) or "line"
            raise InvalidRequestError(
                f"line {number}: {field}: {first['msg']}", param=f"line {number}.{field}"
            ) from None
        articles.append(Article(item.id, item.text, item.title, item.label, item.source, item.scores))
    return articles


def _with_scores(articles: list[Article], specs: list[str]) -> list[Article]:
    """Add each `NAME=FILE` detector's scores (the JSONL `headwater detect score --json` prints) by article id."""
    scores: dict[str, dict[str, float]] = {article.id: dict(article.scores or {}) for article in articles}
    for spec in specs:
        name, _, path = spec.partition("=")
        if not name or not path:
            raise InvalidRequestError(f"--scores takes NAME=FILE, got {spec!r}", param="scores")
        for number, row in read_jsonl(Path(path), "score"):
            if isinstance(row, dict) and row.get("score") is None and row.get("refused"):
                continue  # a text the detector refused to score (too short, unparseable verdict) shows no score
            if (
                not isinstance(row, dict)
                or str(row.get("id")) not in scores
                or not isinstance(row.get("score"), int | float)
            ):
                raise InvalidRequestError(
                    f"{path} line {number}: needs an `id` of a loaded article and a numeric `score`",
                    param=f"scores.{name}",
                )
            scores[str(row["id"])][name] = row["score"]
    return [dataclasses.replace(article, scores=scores[article.id]) for article in articles]


@app.command()
def load(
    file: Annotated[
        Path,
        typer.Argument(
            help="JSONL: `id`, `text`, optional `title`, `label` (gold: ai|human), "
            "`source`, `scores` ({detector: score})."
        ),
    ],
    name: Annotated[str, typer.Option("--set", help="Name of the new set.")],
    annotator: Annotated[list[str], typer.Option(help="An annotator to assign every article to (repeatable).")] = [],  # noqa: B006
    scores: Annotated[
        list[str], typer.Option(help="NAME=FILE: a detector's `headwater detect score --json` output (repeatable).")
    ] = [],  # noqa: B006
    data_dir: DataDir = Path(".headwater"),
    as_json: Json = False,
) -> None:
    """Load a set and assign it; annotators without a live API key get one, printed once."""
    with _stores(data_dir) as (store, annotations):
        count = annotations.load_set(name, _with_scores(_articles(file), scores), annotator)
        holders = {info.tenant for info in store.list_api_keys()}
        keys = {a: store.create_api_key(a, name="annotator")[1] for a in dict.fromkeys(annotator) if a not in holders}
    result = {"set": name, "articles": count, "annotators": annotator, "keys": keys}
    if as_json:
        print(json.dumps(result))
        return
    err.print(f"loaded [cyan]{name}[/]: {count} articles for {', '.join(annotator) or 'nobody yet'}")
    for who, key in keys.items():
        err.print(f"  key for {who}: {key}", soft_wrap=True)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to bind.")] = 8100,
    data_dir: DataDir = Path(".headwater"),
    no_auth: Annotated[bool, typer.Option("--no-auth", help="Log in by name instead of API key.")] = False,
) -> None:
    """Serve only the annotation app (no model) at http://HOST:PORT/annotate."""
    from headwater.platform.app import create_annotation_app

    settings = Settings(data_dir=data_dir, host=host, port=port, auth=not no_auth)
    check_port_free(host, port)
    key = admin_key(settings)
    err.print(f"[bold green]Annotation app[/] at http://{host}:{port}/annotate")
    err.print(f"  admin key  {key}", soft_wrap=True)
    uvicorn.run(create_annotation_app(settings), host=host, port=port, log_level="warning")


@app.command()
def status(name: SetName, data_dir: DataDir = Path(".headwater"), as_json: Json = False) -> None:
    """Progress, majority votes (ties shown), Fleiss' kappa and per-annotator TPR/FPR of a set."""
    with _stores(data_dir) as (_, annotations):
        summary = set_summary(annotations, name)
    if as_json:
        print(json.dumps(summary))
        return
    table = Table("annotator", "done", "TPR", "FPR", title=f"set {name}")
    for row in summary["annotators"]:
        rates = [f"{row[k]:.1%}" if row[k] is not None else "–" for k in ("tpr", "fpr")]
        table.add_row(row["name"], f"{row['done']}/{row['assigned']}", *rates)
    out.print(table)
    kappa = summary["kappa"]
    out.print(f"Fleiss' kappa: {kappa['kappa']:.3f} over {kappa['items']} articles" if kappa else "Fleiss' kappa: –")


@app.command()
def export(
    name: SetName,
    output: Annotated[Path, typer.Option(help="JSONL file: one line per annotation.")],
    data_dir: DataDir = Path(".headwater"),
    as_json: Json = False,
) -> None:
    """Write every annotation of a set (label, confidence, highlighted quotes, explanation, gold) to JSONL."""
    with _stores(data_dir) as (_, annotations):
        rows = export_rows(annotations, name)
    write_atomic(output, "".join(json.dumps(row) + "\n" for row in rows))
    if as_json:
        print(json.dumps({"output": str(output), "annotations": len(rows)}))
    else:
        err.print(f"wrote {len(rows)} annotations to {output}")
