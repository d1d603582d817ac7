"""A small HTTP client for the commands that drive a running platform (`headwater files`, `headwater batches`):
plain httpx, so these commands start fast, and the platform's OpenAI-shaped errors turned back into
HeadwaterErrors, so `fail` prints the server's message and picks the exit code from its status. `Platform` is
the option group of these commands (`--base-url`, `--api-key`), and `show`/`show_list` print a record the one way
they all do (`--json`: the object as the server sent it)."""

from __future__ import annotations

import inspect
import json
import string
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console
from rich.table import Table

from headwater.cli.options import ApiKey, Json, failing, option_groups
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

    def upload(self, path: Path, purpose: str, idempotency_key: str | None = None) -> dict[str, Any]:
        """POST `path` to /files; the file record (its `id` names it in a batch or a fine-tuning job)."""
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        with path.open("rb") as handle:
            upload = {"file": (path.name, handle)}
            return self.json("POST", "/files", files=upload, data={"purpose": purpose}, headers=headers)


@dataclass(frozen=True)
class Platform:
    """The running platform a command drives: an option group (see `option_groups`) of `--base-url` and
    `--api-key`, declared once for every `files`, `batches` and `finetune` command."""

    base_url: PlatformUrl = DEFAULT_URL
    api_key: ApiKey = None

    def client(self) -> PlatformClient:
        return PlatformClient(self.base_url, self.api_key)

    def call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        """The JSON answer of one call; any failure leaves the command through `fail` (its message, its exit code)."""
        with failing():
            return self.client().json(method, path, **kwargs)


def show(record: dict[str, Any], as_json: bool, text: Callable[[dict[str, Any]], None]) -> None:
    """Print one record: as JSON with --json, else as `text` writes it."""
    if as_json:
        print(json.dumps(record))
    else:
        text(record)


def record_command(
    app: typer.Typer, name: str, method: str, path: str, text: Callable[[dict[str, Any]], None], doc: str
) -> None:
    """Register `name ID` on `app`: one call (`method` on `path`, whose `{placeholder}` names the argument, as in
    `/files/{file_id}`) whose record is printed by `show`. `show`, `cancel` and `delete` of files, batches and
    fine-tuning jobs are such commands, the same but for the path."""
    (argument,) = [field for _, field, _, _ in string.Formatter().parse(path) if field]

    def command(platform: Platform, as_json: bool = False, **ids: str) -> None:
        show(platform.call(method, path.format(**ids)), as_json, text)

    keyword = inspect.Parameter.KEYWORD_ONLY
    params = [
        inspect.Parameter(argument, keyword, annotation=str),
        inspect.Parameter("platform", keyword, annotation=Platform),
        inspect.Parameter("as_json", keyword, default=False, annotation=Json),
    ]
    command.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    command.__annotations__ = {param.name: param.annotation for param in params}
    command.__name__ = command.__qualname__ = name
    app.command(name, help=doc)(option_groups(command))


def table(
    columns: Sequence[str], row: Callable[[dict[str, Any]], Sequence[object]]
) -> Callable[[list[dict[str, Any]]], None]:
    """A `show_list` text: the records as a table of `columns`, one row (its cells written with str) a record."""

    def text(records: list[dict[str, Any]]) -> None:
        grid = Table(*columns)
        for record in records:
            grid.add_row(*map(str, row(record)))
        Console().print(grid)

    return text


def show_list(records: list[dict[str, Any]], as_json: bool, text: Callable[[list[dict[str, Any]]], None]) -> None:
    """Print a list the way the API returns it (`{"object": "list", "data": [...]}`) with --json, else as `text`."""
    if as_json:
        print(json.dumps({"object": "list", "data": records}))
    else:
        text(records)


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
