"""The one place where errors become HTTP responses, in OpenAI's error JSON shape."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from headwater.errors import HeadwaterError

logger = logging.getLogger(__name__)


def error_body(message: str, error_type: str, param: str | None = None, code: str | None = None) -> dict:
    return {"error": {"message": message, "type": error_type, "param": param, "code": code}}


def exception_body(error: Exception) -> dict:
    """The error JSON of an exception: a HeadwaterError's own message and type, else an opaque internal error.
    Responses and server-sent events use this one body, so a client parses both alike."""
    if isinstance(error, HeadwaterError):
        return error_body(error.message, error.error_type, error.param)
    return error_body(f"internal error: {type(error).__name__}", "internal_error")


def headwater_error_response(error: HeadwaterError) -> JSONResponse:
    headers = {"Retry-After": str(error.retry_after_s)} if error.retry_after_s is not None else None
    return JSONResponse(exception_body(error), status_code=error.status_code, headers=headers)


def _field_name(location: tuple[object, ...]) -> str:
    parts = [str(part) for part in location if part != "body"]
    return ".".join(parts) or "body"


async def _on_validation_error(_request: Request, error: RequestValidationError) -> JSONResponse:
    first = error.errors()[0]
    if first.get("type") == "json_invalid":
        message = f"the body is not valid JSON: {first.get('ctx', {}).get('error', first.get('msg'))}"
        return JSONResponse(error_body(message, "invalid_request_error", "body"), status_code=400)
    field = _field_name(tuple(first.get("loc", ())))
    message = f"{field}: {first.get('msg')}" + (f" (got {first['input']!r})" if "input" in first else "")
    return JSONResponse(error_body(message[:1000], "invalid_request_error", field), status_code=400)


async def _on_headwater_error(_request: Request, error: HeadwaterError) -> JSONResponse:
    return headwater_error_response(error)


async def _on_http_error(_request: Request, error: StarletteHTTPException) -> JSONResponse:
    kind = "not_found_error" if error.status_code == 404 else "invalid_request_error"
    return JSONResponse(error_body(str(error.detail), kind), status_code=error.status_code)


async def _on_unexpected(_request: Request, error: Exception) -> JSONResponse:
    logger.exception("unexpected error", exc_info=error)
    return JSONResponse(exception_body(error), status_code=500)


def install_error_handlers(app: FastAPI) -> None:
    # FastAPI's decorator form, which types each handler by its own exception class (Starlette's
    # add_exception_handler wants handlers of any Exception)
    app.exception_handler(RequestValidationError)(_on_validation_error)
    app.exception_handler(HeadwaterError)(_on_headwater_error)
    app.exception_handler(StarletteHTTPException)(_on_http_error)
    app.exception_handler(Exception)(_on_unexpected)
