"""Built-in tiny models: deterministic, small, with a working chat template; written atomically."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from headwater.errors import ModelLoadError
from headwater.models.builtin import TINY_VOCAB_SIZE, builtin_path


def test_tiny_chat_is_small_and_has_a_chat_template(tiny_chat_path):
    tokenizer = AutoTokenizer.from_pretrained(tiny_chat_path)
    model = AutoModelForCausalLM.from_pretrained(tiny_chat_path)
    assert len(tokenizer) <= TINY_VOCAB_SIZE
    assert model.config.num_hidden_layers == 2 and model.config.hidden_size <= 64
    text = tokenizer.apply_chat_template(
        [{"role": "user", "content": "hi"}], add_generation_prompt=True, tokenize=False
    )
    assert text == "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"
    assert tokenizer.decode([tokenizer.eos_token_id]) == "<|im_end|>"


def test_builds_are_deterministic(tmp_path, tiny_chat_path):
    again = builtin_path("tiny-chat", tmp_path)
    first = AutoModelForCausalLM.from_pretrained(tiny_chat_path).state_dict()
    second = AutoModelForCausalLM.from_pretrained(again).state_dict()
    assert all(torch.equal(first[name], second[name]) for name in first)
    assert (tiny_chat_path / "tokenizer.json").read_text() == (again / "tokenizer.json").read_text()


def test_teacher_shares_the_student_tokenizer_and_is_larger(data_dir, tiny_chat_path):
    teacher = builtin_path("tiny-teacher", data_dir)
    assert (teacher / "tokenizer.json").read_text() == (tiny_chat_path / "tokenizer.json").read_text()
    student_size = sum(p.numel() for p in AutoModelForCausalLM.from_pretrained(tiny_chat_path).parameters())
    teacher_size = sum(p.numel() for p in AutoModelForCausalLM.from_pretrained(teacher).parameters())
    assert teacher_size > 2 * student_size


def test_no_staging_folders_are_left_behind(data_dir, tiny_chat_path):
    assert [p.name for p in (data_dir / "models").iterdir() if p.name.startswith(".")] == []


def test_unknown_builtin_is_a_clear_error(tmp_path):
    with pytest.raises(ModelLoadError, match="built-ins are"):
        builtin_path("tiny-giant", tmp_path)
