"""The OpenAPI document is honest: schemathesis fuzzes every /v1 route of the live server from it and checks
each response's status code and body against what the document says (and that none is a 5xx).

Bounded for `make test`: the served model is pinned, completions are kept short and the cases are the same
every run, so it costs seconds; `HEADWATER_FUZZ_EXAMPLES=500` hunts longer with random cases."""

from __future__ import annotations

import os

import pytest

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.specs.openapi.checks import (  # noqa: E402
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

DEFAULT_EXAMPLES = 25
EXAMPLES = int(os.environ.get("HEADWATER_FUZZ_EXAMPLES", DEFAULT_EXAMPLES))
"""Cases per route; set HEADWATER_FUZZ_EXAMPLES higher (and random) for a longer hunt."""
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


def _bounded(case, server) -> None:
    """Pin the model and keep generations short; everything else stays as fuzzed."""
    if isinstance(case.body, dict):
        case.body["model"] = server.model
        for field in ("max_tokens", "max_completion_tokens"):
            if isinstance(case.body.get(field), int):
                case.body[field] = max(1, min(case.body[field], 4))
        if isinstance(case.body.get("n"), int):
            case.body["n"] = max(1, min(case.body["n"], 2))
        case.body.setdefault("max_tokens", 4)
    if "model_id" in (case.path_parameters or {}):
        case.path_parameters["model_id"] = server.model


def test_every_response_matches_the_document(server):
    root = server.base_url.removesuffix("/v1")
    schema = schemathesis.openapi.from_url(f"{root}/openapi.json").include(path_regex="^/v1/")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {operation.label for operation in operations} >= {"POST /v1/chat/completions", "GET /v1/models"}
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES,
            derandomize=EXAMPLES == DEFAULT_EXAMPLES,  # the same cases in every `make test`
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
        )
        def conforms(case) -> None:
            _bounded(case, server)
            case.headers = {**(case.headers or {}), "Authorization": f"Bearer {server.api_key}"}
            case.call_and_validate(checks=CHECKS)

        conforms()


def test_the_document_has_no_422_and_names_its_errors(server):
    import httpx

    document = httpx.get(server.base_url.removesuffix("/v1") + "/openapi.json").json()
    for path, operations in document["paths"].items():
        for operation in operations.values():
            assert "422" not in operation["responses"], path
    chat = document["paths"]["/v1/chat/completions"]["post"]["responses"]
    assert {"200", "400", "401", "404", "413", "429", "503"} <= set(chat)
    assert "text/event-stream" in chat["200"]["content"]
