"""Options and helpers every command group shares, so `--json`, `--api-key` and `--data-dir` mean one thing and
every command fails the same way."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import inspect
import typing
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from headwater.errors import HeadwaterError, InvalidRequestError
from headwater.models.endpoint import generator_for
from headwater.models.generator import Generator

__all__ = [
    "ApiKey",
    "BaseUrl",
    "DataDir",
    "Endpoint",
    "Json",
    "as_flag",
    "err",
    "fail",
    "failing",
    "generator_for",
    "option_groups",
]

ApiKey = Annotated[str | None, typer.Option(help="API key (default HEADWATER_API_KEY / OPENAI_API_KEY).")]
BaseUrl = Annotated[str | None, typer.Option(help="OpenAI-compatible base URL serving --model (default: run it here).")]
DataDir = Annotated[Path, typer.Option(help="Where built-in models live.")]
Json = Annotated[bool, typer.Option("--json", help="Print JSON on stdout (one object; one per line for batches).")]
err = Console(stderr=True)


@dataclass(frozen=True)
class Endpoint:
    """Where a command's --model runs: served at --base-url (with --api-key), else in-process from --data-dir. An
    option group (see `option_groups`); a command's own group extends it with its model and settings."""

    base_url: BaseUrl = None
    api_key: ApiKey = None
    data_dir: DataDir = Path(".headwater")

    def generator(self, model: str, concurrency: int = 8) -> Generator:
        """A Generator for `model` at this endpoint."""
        return generator_for(model, self.base_url, self.api_key, self.data_dir, concurrency)


def fail(error: Exception) -> typer.Exit:
    """Print the error on stderr (one line, no traceback) and return the exit to raise. The code follows the
    error's class: 1 for a run that broke (a HeadwaterError with a 5xx status: a server down, every retry failed),
    2 for bad input or usage (anything else: a wrong value, a missing file)."""
    if isinstance(error, HeadwaterError):
        message = error.message + (f" [field: {error.param}]" if error.param else "")
    elif isinstance(error, OSError) and error.filename:
        message = f"{error.filename}: {error.strerror or error}"
    else:
        message = str(error)
    err.print(f"[red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    broke = isinstance(error, HeadwaterError) and error.status_code >= 500
    return typer.Exit(1 if broke else 2)


@contextlib.contextmanager
def failing() -> Iterator[None]:
    """Run the block; any error it raises leaves the command through `fail` (one line on stderr, the exit code of
    its class), so a command body is the call and the print, not a try/except of its own."""
    try:
        yield
    except Exception as error:
        raise fail(error) from None


def as_flag(error: HeadwaterError, flags: Mapping[str, str] | None = None) -> HeadwaterError:
    """The error with the library field that starts its message written as the command's flag (`ppl_model must
    be...` → `--ppl-model must be...`; `flags` maps the fields whose flag is not simply --field-name). The `param`
    keeps the field's name."""
    param = error.param
    if not isinstance(error, InvalidRequestError) or not param or not error.message.startswith(param):
        return error
    flag = (flags or {}).get(param, "--" + param.replace("_", "-"))
    message = error.message.replace(f"{param} (λ)", flag, 1) if "(λ)" in error.message else error.message
    return InvalidRequestError(message.replace(param, flag, 1), param=param)


def _default(field: dataclasses.Field) -> Any:
    """A group field's default as typer reads it: none (a required option) when the dataclass has none."""
    return inspect.Parameter.empty if field.default is dataclasses.MISSING else field.default


def option_groups(command: Callable[..., None]) -> Callable[..., None]:
    """Let a command take groups of options as dataclasses: each parameter typed with a dataclass whose fields are
    typer options is replaced, in the signature typer reads, by those fields, and the command receives the
    dataclass. A group shared by several commands (the detector, the judge model, the fine-tuning settings) is so
    declared once, with its help and defaults, and its fields reach the library as one object."""
    hints = typing.get_type_hints(command, include_extras=True)
    groups = {name: hint for name, hint in hints.items() if isinstance(hint, type) and dataclasses.is_dataclass(hint)}
    params: list[inspect.Parameter] = []
    for param in inspect.signature(command).parameters.values():
        group = groups.get(param.name)
        if group is None:
            params.append(param.replace(kind=inspect.Parameter.KEYWORD_ONLY, annotation=hints[param.name]))
            continue
        fields = typing.get_type_hints(group, include_extras=True)
        own = group.__dict__.get("__annotations__", {})  # the group's own options first, then those it extends
        params += [
            inspect.Parameter(
                field.name, inspect.Parameter.KEYWORD_ONLY, default=_default(field), annotation=fields[field.name]
            )
            for field in sorted(dataclasses.fields(group), key=lambda field: field.name not in own)
        ]

    @functools.wraps(command)
    def run(**values: Any) -> None:
        for name, group in groups.items():
            values[name] = group(**{field.name: values.pop(field.name) for field in dataclasses.fields(group)})
        command(**values)

    run.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    run.__annotations__ = {param.name: param.annotation for param in params}
    return run
