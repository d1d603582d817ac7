"""Which GGUF file a model name means for the llamacpp engine: a file, a folder picked by quantisation, a built-in."""

from __future__ import annotations

import pytest

from headwater.errors import ModelLoadError
from headwater.models.gguf import quantisation_of, resolve_gguf


@pytest.mark.parametrize(
    ("name", "quantisation"),
    [
        ("SmolLM2-135M-Instruct.Q4_1.gguf", "Q4_1"),
        ("model-q4_k_m.gguf", "Q4_K_M"),
        ("model.F16.gguf", "F16"),
        ("model-bf16.gguf", "BF16"),
        ("model-IQ4_XS.gguf", "IQ4_XS"),
        ("model.gguf", None),
    ],
)
def test_the_quantisation_is_read_from_the_file_name(name, quantisation, tmp_path):
    assert quantisation_of(tmp_path / name) == quantisation


def test_a_folder_is_resolved_by_quantisation_and_refuses_to_guess(tmp_path):
    for name in ("m.Q4_K_M.gguf", "m.Q8_0.gguf"):
        (tmp_path / name).write_bytes(b"GGUF")
    assert resolve_gguf(str(tmp_path), "q8_0") == tmp_path / "m.Q8_0.gguf"
    with pytest.raises(ModelLoadError, match=r"several GGUF files .*Q4_K_M.*Q8_0.*quantization"):
        resolve_gguf(str(tmp_path))
    with pytest.raises(ModelLoadError, match="no GGUF file of F16"):
        resolve_gguf(str(tmp_path), "F16")
    (tmp_path / "weights.safetensors").write_bytes(b"x")
    with pytest.raises(ModelLoadError, match="not a .gguf file"):
        resolve_gguf(str(tmp_path / "weights.safetensors"))
    with pytest.raises(ModelLoadError, match="no GGUF file or folder"):
        resolve_gguf(str(tmp_path / "missing"))


def test_the_builtin_smollm2_is_its_shipped_gguf():
    path = resolve_gguf("smollm2-135m")
    assert path.suffix == ".gguf" and quantisation_of(path) == "Q4_1"
