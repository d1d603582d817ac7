"""Models: load any causal LM by built-in name, path or HF id, and generate text through a `Generator`."""

from headwater.models.builtin import BUILTIN_MODELS, build_tiny_tokenizer, builtin_path
from headwater.models.generator import Generation, GenerationParams, Generator, Prompt
from headwater.models.hf_generator import HFGenerator
from headwater.models.loading import context_window, load_model, load_tokenizer, resolve_model
from headwater.models.openai_generator import GenerationError, GenerationFailed, GenerationRefused, OpenAIGenerator

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
