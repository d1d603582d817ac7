"""The body-size limit refuses large bodies by header and by counting chunked uploads."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.testclient import TestClient
from pydantic import BaseModel

from headwater.platform.api.errors import install_error_handlers
from headwater.platform.api.limits import BodySizeLimit


class Body(BaseModel):
    text: str


def _client(limit: int) -> TestClient:
    app = FastAPI()

    @app.post("/echo")
    async def echo(request: Request) -> dict[str, int]:
        return {"size": len(await request.body())}

    app.add_middleware(BodySizeLimit, max_bytes=limit)
    return TestClient(app)


def test_small_body_passes():
    assert _client(100).post("/echo", content=b"x" * 100).json() == {"size": 100}


def test_declared_large_body_is_413():
    response = _client(100).post("/echo", content=b"x" * 101)
    assert response.status_code == 413
    assert response.json()["error"]["param"] == "body"


def test_chunked_large_body_is_413():
    def chunks():
        for _ in range(10):
            yield b"x" * 50

    response = _client(100).post("/echo", content=chunks())
    assert response.status_code == 413


def _parsing_client(limit: int) -> TestClient:
    """A route whose body FastAPI parses itself, with the gateway's error handlers, as the API routes are."""
    app = FastAPI()
    install_error_handlers(app)

    @app.post("/parse")
    async def parse(body: Body) -> dict[str, int]:
        return {"size": len(body.text)}

    app.add_middleware(BodySizeLimit, max_bytes=limit)
    return TestClient(app)


def test_chunked_large_body_is_413_even_when_fastapi_parses_it():
    def chunks():
        yield b'{"text": "'
        for _ in range(10):
            yield b"x" * 50
        yield b'"}'

    response = _parsing_client(100).post("/parse", content=chunks(), headers={"Content-Type": "application/json"})
    assert response.status_code == 413 and "100 bytes" in response.json()["error"]["message"]


def test_a_json_body_that_is_not_utf8_is_a_400_saying_so():
    body = '{"text": "caf\u00e9"}'.encode("latin-1")
    response = _parsing_client(1000).post("/parse", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert "not UTF-8" in response.json()["error"]["message"]
    good = _parsing_client(1000).post(
        "/parse", content='{"text": "caf\u00e9"}'.encode(), headers={"Content-Type": "application/json"}
    )
    assert good.json() == {"size": 4}
