"""The expert-annotation web app: one page (`GET /annotate`) over a small JSON API.

Annotators log in with their platform API key (the key's tenant is the annotator's name); the key goes into an
HttpOnly, SameSite=Strict cookie scoped to /annotate, so the page's own requests carry it and other sites' cannot.
Scripts may send `Authorization: Bearer KEY` instead. The admin tenant loads sets, assigns them and sees votes,
kappa, rates and detector scores; annotators only ever receive the text of their next article. With auth off
(`--no-auth`) the login takes a plain name, and the name `admin` is the admin.
"""

from __future__ import annotations

import asyncio
import json
from importlib.resources import files
from typing import Literal

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field

from headwater.errors import ForbiddenError
from headwater.platform.annotation.report import export_rows, set_summary
from headwater.platform.annotation.store import Annotation, AnnotationStore, Article, Highlight
from headwater.platform.auth import ADMIN_TENANT, KeyLogin
from headwater.platform.state import gateway_of

router = APIRouter(prefix="/annotate", tags=["annotate"])
LOGIN = KeyLogin("hw_annotate", "/annotate", "/annotate")


class LoginBody(BaseModel):
    key: str = Field(min_length=1, max_length=200, description="Your API key (or your name when auth is off).")


class ArticleIn(BaseModel):
    id: str = Field(min_length=1, max_length=200)
    text: str = Field(min_length=1)
    title: str = Field(default="", max_length=500)
    label: Literal["ai", "human"] | None = Field(default=None, description="Gold label, shown to admins only.")
    source: str | None = Field(default=None, max_length=200)
    scores: dict[str, float] | None = Field(default=None, description="Detector name → score, shown to admins.")


class SetBody(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    articles: list[ArticleIn] = Field(min_length=1)
    annotators: list[str] = Field(default_factory=list)


class AnnotatorsBody(BaseModel):
    annotators: list[str] = Field(min_length=1)


class HighlightIn(BaseModel):
    start: int = Field(ge=0)
    end: int = Field(ge=1)
    category: str = Field(default="", max_length=40)


class AnnotationIn(BaseModel):
    article_id: int
    label: Literal["ai", "human"]
    confidence: int = Field(ge=1, le=5)
    highlights: list[HighlightIn] = Field(default_factory=list, max_length=200)
    explanation: str = Field(default="", max_length=10_000)


def _store(request: Request) -> AnnotationStore:
    return gateway_of(request).annotations


async def annotator(request: Request) -> str:
    """The caller's annotator name, from the session cookie or a Bearer key."""
    return await LOGIN.caller(request)


async def admin(request: Request) -> str:
    name = await annotator(request)
    if name != ADMIN_TENANT:
        raise ForbiddenError(f"{name} is an annotator; this needs the admin key (.headwater/admin.key)")
    return name


@router.get("", response_class=HTMLResponse, include_in_schema=False)
async def page() -> HTMLResponse:
    return HTMLResponse((files("headwater.platform.annotation") / "page.html").read_text(encoding="utf-8"))


@router.post("/api/login")
async def login(body: LoginBody, request: Request, response: Response) -> dict:
    name = await LOGIN.tenant_for(request, body.key)
    LOGIN.remember(response, body.key)
    return {"annotator": name, "admin": name == ADMIN_TENANT}


@router.post("/api/logout")
async def logout(response: Response) -> dict:
    LOGIN.forget(response)
    return {"ok": True}


@router.get("/api/me")
async def me(request: Request) -> dict:
    name = await annotator(request)
    return {"annotator": name, "admin": name == ADMIN_TENANT}


@router.get("/api/next")
async def next_article(request: Request) -> dict:
    """The caller's next unlabelled article: its text only, never its gold label or anyone's answers."""
    name = await annotator(request)
    found = await asyncio.to_thread(_store(request).next_article, name)
    if found is None:
        return {"article": None}
    row_id, row, done, assigned = found
    return {"article": {"id": row_id, "title": row.title, "text": row.text}, "done": done, "assigned": assigned}


@router.post("/api/annotations", status_code=201)
async def submit(body: AnnotationIn, request: Request) -> dict:
    name = await annotator(request)
    highlights = tuple(Highlight(h.start, h.end, h.category) for h in body.highlights)
    answer = Annotation(body.label, body.confidence, highlights, body.explanation)
    await asyncio.to_thread(_store(request).submit, name, body.article_id, answer)
    return {"ok": True}


@router.get("/api/sets")
async def list_sets(request: Request) -> dict:
    await admin(request)
    return {"sets": await asyncio.to_thread(_store(request).set_names)}


@router.post("/api/sets", status_code=201)
async def load_set(body: SetBody, request: Request) -> dict:
    await admin(request)
    articles = [Article(a.id, a.text, a.title, a.label, a.source, a.scores) for a in body.articles]
    count = await asyncio.to_thread(_store(request).load_set, body.name, articles, body.annotators)
    return {"name": body.name, "articles": count, "annotators": body.annotators}


@router.post("/api/sets/{name}/annotators")
async def assign(name: str, body: AnnotatorsBody, request: Request) -> dict:
    await admin(request)
    await asyncio.to_thread(_store(request).assign, name, body.annotators)
    return {"name": name, "annotators": body.annotators}


@router.get("/api/sets/{name}")
async def summary(name: str, request: Request) -> dict:
    await admin(request)
    return await asyncio.to_thread(set_summary, _store(request), name)


@router.get("/api/sets/{name}/export")
async def export(name: str, request: Request) -> Response:
    await admin(request)
    rows = await asyncio.to_thread(export_rows, _store(request), name)
    body = "".join(json.dumps(row) + "\n" for row in rows)
    headers = {"Content-Disposition": f'attachment; filename="{name}.annotations.jsonl"'}
    return Response(body, media_type="application/x-ndjson", headers=headers)
