"""The body-size limit refuses large bodies by header and by counting chunked uploads."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.testclient import TestClient

from headwater.platform.api.limits import BodySizeLimit


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
