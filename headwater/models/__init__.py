"""Models: load any causal LM by built-in name, path or HF id, and generate text through a `Generator`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from headwater._lazy import lazy_exports

if TYPE_CHECKING:
    from headwater.models.builtin import BUILTIN_MODELS, build_tiny_tokenizer, builtin_path
    from headwater.models.generator import Generation, GenerationParams, Generator, Prompt
    from headwater.models.hf_generator import HFGenerator
    from headwater.models.loading import context_window, load_model, load_tokenizer, resolve_model
    from headwater.models.openai_generator import GenerationError, GenerationFailed, GenerationRefused, OpenAIGenerator

_EXPORTS = {
    "BUILTIN_MODELS": "headwater.models.builtin",
    "Generation": "headwater.models.generator",
    "GenerationError": "headwater.models.openai_generator",
    "GenerationFailed": "headwater.models.openai_generator",
    "GenerationParams": "headwater.models.generator",
    "GenerationRefused": "headwater.models.openai_generator",
    "Generator": "headwater.models.generator",
    "HFGenerator": "headwater.models.hf_generator",
    "OpenAIGenerator": "headwater.models.openai_generator",
    "Prompt": "headwater.models.generator",
    "build_tiny_tokenizer": "headwater.models.builtin",
    "builtin_path": "headwater.models.builtin",
    "context_window": "headwater.models.loading",
    "load_model": "headwater.models.loading",
    "load_tokenizer": "headwater.models.loading",
    "resolve_model": "headwater.models.loading",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())

__all__ = [
    "BUILTIN_MODELS",
    "Generation",
    "GenerationError",
    "GenerationFailed",
    "GenerationParams",
    "GenerationRefused",
    "Generator",
    "HFGenerator",
    "OpenAIGenerator",
    "Prompt",
    "build_tiny_tokenizer",
    "builtin_path",
    "context_window",
    "load_model",
    "load_tokenizer",
    "resolve_model",
]
