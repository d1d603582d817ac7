"""Options and helpers every command group shares, so `--json`, `--api-key` and `--data-dir` mean one thing and
every command fails the same way."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from headwater.errors import HeadwaterError
from headwater.models.generator import Generator
from headwater.models.openai_generator import OpenAIGenerator, default_api_key

ApiKey = Annotated[str | None, typer.Option(help="API key (default HEADWATER_API_KEY / OPENAI_API_KEY).")]
DataDir = Annotated[Path, typer.Option(help="Where built-in models live.")]
Json = Annotated[bool, typer.Option("--json", help="Print JSON on stdout (one object; one per line for batches).")]
err = Console(stderr=True)


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


def generator_for(
    model: str, base_url: str | None, api_key: str | None, data_dir: Path, concurrency: int = 8
) -> Generator:
    """An OpenAI-compatible endpoint when a base URL is given, else the model in-process."""
    if base_url:
        return OpenAIGenerator(model, base_url, api_key or default_api_key(), concurrency=concurrency)
    from headwater.models.hf_generator import HFGenerator  # torch and transformers, only when a model runs here

    return HFGenerator.from_pretrained(model, data_dir=data_dir, batch_size=concurrency)
