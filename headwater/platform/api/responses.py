"""Response shapes of the OpenAI-compatible API, for the OpenAPI document.

The handlers build their bodies with `formats` (fast, no validation on the hot path); these models describe the
same shapes so the document says what the server really returns, and a schema-driven test (schemathesis)
checks every response against them. `error_responses` documents the errors a route can give, in OpenAI's shape.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel


class ErrorDetail(BaseModel):
    message: str
    type: str
    param: str | None = None
    code: str | None = None


class ErrorResponse(BaseModel):
    error: ErrorDetail


_ERROR_MEANING = {
    400: "Bad input; `param` names the field.",
    401: "Missing, unknown or revoked API key.",
    403: "The key may not do this (admin routes need an admin key).",
    404: "Unknown model or object; the message lists what exists.",
    413: "Body larger than HEADWATER_MAX_BODY_BYTES.",
    409: "It already exists.",
    429: "Too many sequences in flight for the server or the tenant; see Retry-After.",
    503: "The task executor was lost or is restarting; retry.",
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` entries for these error statuses, each with OpenAI's error body."""
    return {status: {"model": ErrorResponse, "description": _ERROR_MEANING[status]} for status in statuses}


def with_stream(model: type[BaseModel], chunk: str) -> dict[int | str, dict[str, Any]]:
    """A 200 that is JSON, or server-sent events (each described on its own) when the request streams."""
    event = {
        "type": "object",
        "properties": {
            "data": {"type": "string", "description": f"A JSON `{chunk}` object, an error object, or `[DONE]`"},
            "event": {"type": "string"},
        },
        "required": ["data"],
    }
    return {200: {"model": model, "content": {"text/event-stream": {"schema": event}}}}


class PromptTokensDetails(BaseModel):
    cached_tokens: int


class Usage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    prompt_tokens_details: PromptTokensDetails


class TopLogprobEntry(BaseModel):
    token: str
    logprob: float
    bytes: list[int] | None = None


class ChatLogprobEntry(TopLogprobEntry):
    top_logprobs: list[TopLogprobEntry]


class ChatLogprobs(BaseModel):
    content: list[ChatLogprobEntry] | None = None


class CalledFunctionOut(BaseModel):
    name: str
    arguments: str


class ToolCallOut(BaseModel):
    id: str
    type: Literal["function"]
    function: CalledFunctionOut


class AssistantMessage(BaseModel):
    role: Literal["assistant"]
    content: str | None
    tool_calls: list[ToolCallOut] | None = None


FinishReason = Literal["stop", "length", "tool_calls"]


class ChatChoice(BaseModel):
    index: int
    message: AssistantMessage
    logprobs: ChatLogprobs | None
    finish_reason: FinishReason | None


class ChatCompletion(BaseModel):
    id: str
    object: Literal["chat.completion"]
    created: int
    model: str
    choices: list[ChatChoice]
    usage: Usage


class CompletionLogprobs(BaseModel):
    tokens: list[str]
    token_logprobs: list[float]
    top_logprobs: list[dict[str, float]] | None
    text_offset: list[int]


class CompletionChoice(BaseModel):
    index: int
    text: str
    logprobs: CompletionLogprobs | None
    finish_reason: FinishReason | None


class Completion(BaseModel):
    id: str
    object: Literal["text_completion"]
    created: int
    model: str
    choices: list[CompletionChoice]
    usage: Usage


class ModelCard(BaseModel):
    id: str
    object: Literal["model"]
    created: int
    owned_by: str
    context_window: int
    engine: Literal["transformers", "llamacpp"]


class ModelList(BaseModel):
    object: Literal["list"]
    data: list[ModelCard]


def openapi_without_unused_422(app: FastAPI) -> dict[str, Any]:
    """The app's OpenAPI document without FastAPI's automatic 422 responses: validation errors are 400s here
    (see `errors.install_error_handlers`), already documented on each route."""
    if app.openapi_schema is None:
        document = get_openapi(title=app.title, version=app.version, routes=app.routes)
        for operations in document.get("paths", {}).values():
            for operation in operations.values():
                operation.get("responses", {}).pop("422", None)
        for unused in ("HTTPValidationError", "ValidationError"):
            document.get("components", {}).get("schemas", {}).pop(unused, None)
        app.openapi_schema = document
    return app.openapi_schema


def cursor_list(data: Sequence[Mapping[str, object]], has_more: bool) -> dict[str, object]:
    """A page in OpenAI's list shape: its items, the ids of its first and last (the next page's `after`), and
    whether more follow."""
    first, last = (data[0]["id"], data[-1]["id"]) if data else (None, None)
    return {"object": "list", "data": data, "first_id": first, "last_id": last, "has_more": has_more}
