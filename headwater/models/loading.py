"""Load a causal LM and its tokenizer from a built-in name, a local folder or a Hugging Face id."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from headwater.errors import ModelLoadError
from headwater.models.builtin import BUILTIN_MODELS, builtin_path, is_builtin

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

DTYPES = ("auto", "float32", "bfloat16", "float16")


def resolve_model(name_or_path: str, data_dir: Path | str = ".headwater") -> str:
    """What `from_pretrained` should receive: a built-in's folder, a local folder, or the id as given."""
    if is_builtin(name_or_path):
        return str(builtin_path(name_or_path, Path(data_dir)))
    local = Path(name_or_path).expanduser()
    if local.exists():
        if not (local / "config.json").exists():
            raise ModelLoadError(f"{local} has no config.json; pass a folder written by save_pretrained")
        return str(local)
    if name_or_path.startswith((".", "/", "~")) or name_or_path.count("/") > 1:
        builtins = ", ".join(BUILTIN_MODELS)
        raise ModelLoadError(
            f"no folder at {name_or_path}; pass a save_pretrained folder, a Hugging Face id (org/name) or a "
            f"built-in ({builtins})"
        )
    return name_or_path


def pick_device(device: str = "auto") -> str:
    """`auto` becomes cuda when a GPU is visible, else cpu."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def pick_dtype(dtype: str, device: str) -> torch.dtype:
    """`auto` is bfloat16 on GPUs and float32 on CPUs (CPU bf16 matmuls are slow on most cores)."""
    import torch

    if dtype not in DTYPES:
        raise ModelLoadError(f"dtype {dtype!r} is not one of {', '.join(DTYPES)}")
    if dtype == "auto":
        return torch.bfloat16 if device.startswith("cuda") else torch.float32
    return getattr(torch, dtype)


def load_tokenizer(name_or_path: str, data_dir: Path | str = ".headwater") -> PreTrainedTokenizerBase:
    """The tokenizer of a model, with a pad token set (left padding, for batched generation)."""
    from transformers import AutoTokenizer

    source = resolve_model(name_or_path, data_dir)
    try:
        tokenizer = AutoTokenizer.from_pretrained(source)
    except (OSError, ValueError) as error:
        raise ModelLoadError(f"cannot load a tokenizer for {name_or_path!r}: {error}") from error
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left"
    return tokenizer


def load_model(
    name_or_path: str, *, dtype: str = "auto", device: str = "auto", data_dir: Path | str = ".headwater"
) -> PreTrainedModel:
    """A causal LM in eval mode on `device`."""
    from transformers import AutoModelForCausalLM

    source = resolve_model(name_or_path, data_dir)
    device = pick_device(device)
    try:
        model = AutoModelForCausalLM.from_pretrained(source, dtype=pick_dtype(dtype, device))
    except (OSError, ValueError) as error:
        raise ModelLoadError(f"cannot load model {name_or_path!r}: {error}") from error
    # transformers' decorator on `to` hides the bound method from type checkers
    return model.to(device).eval()  # type: ignore[arg-type]


def context_window(model_config: object) -> int:
    """Longest sequence (prompt + completion) the model was built for."""
    for attribute in ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length"):
        value = getattr(model_config, attribute, None)
        if isinstance(value, int) and value > 0:
            return value
    return 2048
