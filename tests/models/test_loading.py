"""Loading from a save_pretrained folder, dtype and device choices, and errors that name the fix."""

from __future__ import annotations

import pytest
import torch

from headwater.errors import ModelLoadError
from headwater.models.loading import context_window, load_model, load_tokenizer, pick_dtype, resolve_model


def test_loads_a_user_folder(saved_tiny_model):
    model = load_model(str(saved_tiny_model), dtype="float32", device="cpu")
    tokenizer = load_tokenizer(str(saved_tiny_model))
    assert not model.training and model.dtype == torch.float32
    assert tokenizer.padding_side == "left" and tokenizer.pad_token_id is not None
    assert context_window(model.config) == 1024


def test_bfloat16_is_honoured(saved_tiny_model):
    assert load_model(str(saved_tiny_model), dtype="bfloat16", device="cpu").dtype == torch.bfloat16


def test_folder_without_config_is_refused(tmp_path):
    with pytest.raises(ModelLoadError, match="config.json"):
        resolve_model(str(tmp_path))


@pytest.mark.parametrize("name", ["./nope", "/no/such/folder", "models/a/b"])
def test_a_missing_folder_is_named_not_sent_to_the_hub(name):
    with pytest.raises(ModelLoadError, match="no folder at"):
        resolve_model(name)


def test_unknown_hub_id_fails_clearly_offline():
    with pytest.raises(ModelLoadError, match="cannot load"):
        load_tokenizer("headwater-tests/definitely-not-a-model")


def test_auto_dtype_depends_on_device():
    assert pick_dtype("auto", "cpu") == torch.float32
    assert pick_dtype("auto", "cuda:0") == torch.bfloat16
    with pytest.raises(ModelLoadError, match="float32"):
        pick_dtype("int3", "cpu")
