"""Request-body checks as a plain ASGI middleware, before any route parses the body: a body over the size limit
gets HTTP 413, a JSON body that is not UTF-8 gets HTTP 400 saying so.

Both are checked as the body streams in (by Content-Length up front when declared, else by counting a chunked
body), so a refused body is never buffered whole. When the route has already started reading, its own parse error
is replaced by ours: the client learns the real cause, not "There was an error parsing the body".
"""

from __future__ import annotations

import codecs
import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from headwater.platform.api.errors import error_body


class _Refused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class BodySizeLimit:
    """Refuse bodies larger than `max_bytes` (413) and JSON bodies that are not UTF-8 (400). `path_limits` gives
    routes that take uploads (`/v1/files`) their own, larger limit."""

    def __init__(self, app: ASGIApp, max_bytes: int, path_limits: dict[str, int] | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.path_limits = path_limits or {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        limit = self.path_limits.get(scope.get("path", ""), self.max_bytes)
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await _send_error(send, 413, self._too_large(limit))
            return
        is_json = headers.get(b"content-type", b"").split(b";")[0].strip() == b"application/json"
        decoder = codecs.getincrementaldecoder("utf-8")() if is_json else None
        received = 0
        refused: _Refused | None = None
        started = False

        async def checking_receive() -> Message:
            nonlocal received, refused
            message = await receive()
            if message["type"] == "http.request":
                chunk = message.get("body", b"")
                received += len(chunk)
                if received > limit:
                    refused = _Refused(413, self._too_large(limit))
                elif decoder is not None:
                    refused = _check_utf8(decoder, chunk, received - len(chunk), not message.get("more_body"))
                if refused is not None:
                    raise refused
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if refused is not None:  # the route answered its own parse failure: send the real cause instead
                if message["type"] == "http.response.start" and not started:
                    started = True
                    await _send_error(send, refused.status, refused.message)
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, checking_receive, guarded_send)
        except _Refused as error:
            if not started:
                await _send_error(send, error.status, error.message)

    def _too_large(self, limit: int) -> str:
        setting = "HEADWATER_MAX_BODY_BYTES" if limit == self.max_bytes else "HEADWATER_MAX_FILE_BYTES"
        return f"the request body is larger than {limit} bytes; send less ({setting})"


def _check_utf8(decoder: codecs.IncrementalDecoder, chunk: bytes, offset: int, final: bool) -> _Refused | None:
    try:
        decoder.decode(chunk, final=final)
    except UnicodeDecodeError as error:
        return _Refused(400, f"the request body is not UTF-8 (byte {offset + error.start}); send JSON encoded as UTF-8")
    return None


async def _send_error(send: Send, status: int, message: str) -> None:
    body = json.dumps(error_body(message, "invalid_request_error", "body")).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
