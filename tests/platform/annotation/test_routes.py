from __future__ import annotations

import httpx
import pytest
from fastapi.testclient import TestClient

from headwater.config import Settings
from headwater.platform.app import create_annotation_app

ARTICLES = [
    {"id": "a1", "title": "Coasts", "text": "Delve into the vibrant tapestry.", "label": "ai", "scores": {"fdg": 2.5}},
    {"id": "a2", "title": "Ferry", "text": "Yeah, the ferry was late, said Tom.", "label": "human"},
]


@pytest.fixture
def app_and_keys(tmp_path):
    app = create_annotation_app(Settings(data_dir=tmp_path))
    store = app.state.gateway.store
    keys = {name: store.create_api_key(name)[1] for name in ("admin", "alice")}
    with TestClient(app) as client:
        yield client, keys


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_the_page_is_served_and_the_api_needs_a_login(app_and_keys):
    client, _keys = app_and_keys
    page = client.get("/annotate")
    assert page.status_code == 200 and 'id="login-view"' in page.text
    response = client.get("/annotate/api/next")
    assert response.status_code == 401 and "log in" in response.json()["error"]["message"]
    assert client.post("/annotate/api/login", json={"key": "hw-wrong"}).status_code == 401


def test_annotators_see_only_text_and_cannot_administer(app_and_keys):
    client, keys = app_and_keys
    loaded = client.post(
        "/annotate/api/sets",
        json={"name": "s1", "articles": ARTICLES, "annotators": ["alice"]},
        headers=bearer(keys["admin"]),
    )
    assert loaded.status_code == 201
    login = client.post("/annotate/api/login", json={"key": keys["alice"]})
    assert login.json() == {"annotator": "alice", "admin": False}
    assert (
        "httponly" in login.headers["set-cookie"].lower() and "samesite=strict" in login.headers["set-cookie"].lower()
    )
    body = client.get("/annotate/api/next").json()  # the cookie carries the login
    assert set(body["article"]) == {"id", "title", "text"} and (body["done"], body["assigned"]) == (0, 2)
    assert client.get("/annotate/api/sets").status_code == 403
    assert client.get("/annotate/api/sets/s1").status_code == 403
    bad = client.post(
        "/annotate/api/annotations", json={"article_id": body["article"]["id"], "label": "ai", "confidence": 9}
    )
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "confidence"
    answer = {
        "article_id": body["article"]["id"],
        "label": "ai",
        "confidence": 5,
        "highlights": [{"start": 0, "end": 4}],
    }
    assert client.post("/annotate/api/annotations", json=answer).status_code == 201
    assert client.post("/annotate/api/annotations", json=answer).status_code == 409
    assert client.get("/annotate/api/next").json()["done"] == 1


def test_admin_sees_votes_and_scores_and_exports(app_and_keys):
    client, keys = app_and_keys
    admin = bearer(keys["admin"])
    client.post("/annotate/api/sets", json={"name": "s1", "articles": ARTICLES, "annotators": ["alice"]}, headers=admin)
    duplicate = client.post("/annotate/api/sets", json={"name": "s1", "articles": ARTICLES}, headers=admin)
    assert duplicate.status_code == 409
    empty = client.post("/annotate/api/sets", json={"name": "s2", "articles": []}, headers=admin)
    assert empty.status_code == 400 and empty.json()["error"]["param"] == "articles"
    while (article := client.get("/annotate/api/next", headers=bearer(keys["alice"])).json()["article"]) is not None:
        answer = {"article_id": article["id"], "label": "ai", "confidence": 3, "explanation": "too smooth"}
        client.post("/annotate/api/annotations", json=answer, headers=bearer(keys["alice"]))
    summary = client.get("/annotate/api/sets/s1", headers=admin).json()
    assert summary["annotators"] == [{"name": "alice", "done": 2, "assigned": 2, "tpr": 1.0, "fpr": 1.0, "n": 2.0}]
    assert summary["detectors"] == ["fdg"] and summary["kappa"] is None  # one rater per article
    export = client.get("/annotate/api/sets/s1/export", headers=admin)
    assert export.headers["content-type"].startswith("application/x-ndjson")
    assert len(export.text.splitlines()) == 2
    assert client.get("/annotate/api/sets/nope", headers=admin).status_code == 404


def test_the_serving_platform_serves_the_annotation_app_too(server):
    root = server.base_url.removesuffix("/v1")
    assert httpx.get(f"{root}/annotate", timeout=10).status_code == 200
    me = httpx.get(f"{root}/annotate/api/me", headers=bearer(server.api_key), timeout=10)
    assert me.json() == {"annotator": "tests", "admin": False}
