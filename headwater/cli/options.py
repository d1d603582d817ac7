"""Options and helpers every command group shares, so `--model`, `--base-url`, `--api-key` mean one thing."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from headwater.models.generator import Generator
from headwater.models.openai_generator import OpenAIGenerator, default_api_key

ApiKey = Annotated[str | None, typer.Option(help="API key (default HEADWATER_API_KEY / OPENAI_API_KEY).")]
DataDir = Annotated[Path, typer.Option(help="Where built-in models live.")]
Json = Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.")]


def generator_for(
    model: str, base_url: str | None, api_key: str | None, data_dir: Path, concurrency: int = 8
) -> Generator:
    """An OpenAI-compatible endpoint when a base URL is given, else the model in-process."""
    if base_url:
        return OpenAIGenerator(model, base_url, api_key or default_api_key(), concurrency=concurrency)
    from headwater.models.hf_generator import HFGenerator  # torch and transformers, only when a model runs here

    return HFGenerator.from_pretrained(model, data_dir=data_dir, batch_size=concurrency)
