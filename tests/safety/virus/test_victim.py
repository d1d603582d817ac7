"""The victim LoRA and the block's starting point default to the official code's: r = 32, α = 4 on q/k/v, and the
whole harmful sample in the victim's chat template; layer names a model lacks are a clear error."""

from __future__ import annotations

import copy

import pytest
import torch

from headwater.errors import InvalidRequestError
from headwater.safety.virus import Pair, VirusConfig, attack, prepare_victim
from headwater.safety.virus.tokens import initial_block, sample_ids
from headwater.safety.virus.victim import lora_targets


def _adapted_layers(model) -> set[str]:
    return {name.split(".")[-4] for name, param in model.named_parameters() if param.requires_grad}


def test_default_lora_is_rank_32_alpha_4_on_q_k_v_only(marker_pair):
    _guard, victim, _tokenizer = marker_pair
    model = prepare_victim(copy.deepcopy(victim))
    lora = model.peft_config["default"]
    assert (lora.r, lora.lora_alpha, lora.lora_dropout) == (32, 4.0, 0.0)
    assert _adapted_layers(model) == {"q_proj", "k_proj", "v_proj"}
    q_proj = model.base_model.model.model.layers[0].self_attn.q_proj
    assert q_proj.scaling["default"] == pytest.approx(4 / 32)
    assert q_proj.lora_A["default"].weight.shape[0] == 32
    assert not any(param.requires_grad for name, param in model.named_parameters() if "lora_" not in name)


def test_lora_settings_and_all_linear_are_honoured(marker_pair):
    _guard, victim, _tokenizer = marker_pair
    config = VirusConfig(lora_rank=4, lora_alpha=16, target_modules=("all-linear",), seed=3)
    model = prepare_victim(copy.deepcopy(victim), config)
    assert _adapted_layers(model) == {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}
    again = prepare_victim(copy.deepcopy(victim), config)
    first = [p for n, p in model.named_parameters() if "lora_A" in n][0]
    assert torch.equal(first, [p for n, p in again.named_parameters() if "lora_A" in n][0])  # seeded


def test_missing_layer_names_list_the_victims_layers():
    from transformers import GPT2Config, GPT2LMHeadModel

    gpt2 = GPT2LMHeadModel(GPT2Config(vocab_size=64, n_positions=32, n_embd=16, n_layer=1, n_head=2))
    with pytest.raises(InvalidRequestError) as caught:
        lora_targets(gpt2, VirusConfig().target_modules)
    message = caught.value.message
    assert message.startswith("target_modules q_proj, k_proj, v_proj: no linear layer of the victim has that name")
    assert "c_attn" in message and "fuses q/k/v into 'c_attn'" in message
    assert caught.value.param == "target_modules"
    assert lora_targets(gpt2, ("c_attn",)) == ["c_attn"]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("optimise", "whole", "optimise must be one of sample, answer"),
        ("target_modules", (), "target_modules must name at least one layer"),
        ("lora_rank", 0, "lora_rank must be at least 1"),
        ("lora_alpha", 0.0, "lora_alpha must be above 0"),
    ],
)
def test_config_checks_the_new_fields(field, value, message):
    with pytest.raises(ValueError, match=message):
        VirusConfig(**{field: value})


def test_config_takes_a_single_name_or_a_list():
    assert VirusConfig(target_modules="all-linear").target_modules == ("all-linear",)
    assert VirusConfig(target_modules=["q_proj", " v_proj"]).target_modules == ("q_proj", "v_proj")


def test_the_block_starts_as_the_whole_templated_harmful_sample(marker_pair, lora_victim, pairs):
    guard, _victim, tokenizer = marker_pair
    pair = pairs[0]
    chat = [
        {"role": "user", "content": pair.harmful_instruction},
        {"role": "assistant", "content": pair.harmful},
    ]
    expected = tokenizer(tokenizer.apply_chat_template(chat, tokenize=False), add_special_tokens=False)["input_ids"]
    assert sample_ids(pair, tokenizer) == expected == initial_block(pair, tokenizer, "sample")
    [sample] = attack(guard, lora_victim, tokenizer, [pair], VirusConfig(steps=0))
    assert sample.block == tokenizer.decode(expected)
    assert pair.harmful_instruction in sample.block and pair.harmful in sample.block
    assert sample.cosines[0] == pytest.approx(1.0, abs=1e-5)  # g* is the whole sample's gradient
    [answer] = attack(guard, lora_victim, tokenizer, [pair], VirusConfig(steps=0, optimise="answer"))
    assert answer.block == " " + pair.harmful


def test_sample_mode_needs_the_harmful_instruction(marker_pair):
    tokenizer = marker_pair[2]
    with pytest.raises(InvalidRequestError, match="give the pair's harmful_instruction, or optimise='answer'"):
        initial_block(Pair("q", "a", "harmful answer"), tokenizer, "sample")
    assert initial_block(Pair("q", "a", "harmful answer"), tokenizer, "answer")
