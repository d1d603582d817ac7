"""One way to reach a model by name: an OpenAI-compatible endpoint when a base URL is given, else in-process."""

from __future__ import annotations

from pathlib import Path

from headwater.models.generator import Generator
from headwater.models.openai_generator import OpenAIGenerator, default_api_key


def generator_for(
    model: str, base_url: str | None, api_key: str | None, data_dir: Path, concurrency: int = 8
) -> Generator:
    """A Generator for `model`: served at `base_url` (key from `api_key`, else HEADWATER_API_KEY / OPENAI_API_KEY),
    or loaded here from a built-in name, folder or HF id when no URL is given. `concurrency` is the requests in
    flight at once, or the batch size in-process."""
    if base_url:
        return OpenAIGenerator(model, base_url, api_key or default_api_key(), concurrency=concurrency)
    from headwater.models.hf_generator import HFGenerator  # torch and transformers, only when a model runs here

    return HFGenerator.from_pretrained(model, data_dir=data_dir, batch_size=concurrency)
