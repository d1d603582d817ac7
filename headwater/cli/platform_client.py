"""A small HTTP client for the commands that drive a running platform (`headwater files`, `headwater batches`):
plain httpx, so these commands start fast, and the platform's OpenAI-shaped errors turned back into
HeadwaterErrors, so `fail` prints the server's message and picks the exit code from its status."""

from __future__ import annotations

from typing import Annotated, Any

import httpx
import typer

from headwater.errors import EngineUnavailableError, HeadwaterError
from headwater.models.openai_generator import default_api_key

PlatformUrl = Annotated[str, typer.Option("--base-url", help="The platform's OpenAI base URL.")]
DEFAULT_URL = "http://127.0.0.1:8000/v1"


class PlatformClient:
    """Calls `base_url` with `Authorization: Bearer KEY` (default HEADWATER_API_KEY / OPENAI_API_KEY)."""

    def __init__(self, base_url: str, api_key: str | None, timeout: float = 120.0) -> None:
        self.base_url = base_url.rstrip("/")
        key = api_key or default_api_key()
        self.headers = {"Authorization": f"Bearer {key}"} if key else {}
        self.timeout = timeout

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """The response of a 2xx call; any other status raises the server's error as a HeadwaterError."""
        headers = {**self.headers, **kwargs.pop("headers", {})}
        try:
            response = httpx.request(method, self.base_url + path, headers=headers, timeout=self.timeout, **kwargs)
        except httpx.HTTPError as error:
            raise EngineUnavailableError(
                f"cannot reach {self.base_url}: {error}; is the platform running (`headwater up`)?"
            ) from error
        if response.is_success:
            return response
        raise _error(response)

    def json(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        return self.request(method, path, **kwargs).json()


def _error(response: httpx.Response) -> HeadwaterError:
    try:
        detail = response.json().get("error", {})
    except ValueError:
        detail = {}
    message = detail.get("message") or response.text or response.reason_phrase
    error = HeadwaterError(f"{response.status_code}: {message}", param=detail.get("param"))
    error.status_code = response.status_code
    error.error_type = detail.get("type") or error.error_type
    return error
