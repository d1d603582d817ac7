"""The Virus objectives against direct computations: F_guard, g(x), the cosine, F_sim = −‖g*‖·cos, and the
second-order token gradient."""

from __future__ import annotations

import pytest
import torch

from headwater.safety.virus import GuardObjective, SimilarityObjective, dual_loss
from headwater.safety.virus.tokens import block_ids, vocabulary_width


def _setup(marker_pair, lora_victim, pair):
    guard, _victim, tokenizer = marker_pair
    width = vocabulary_width(tokenizer, guard.model, lora_victim)
    harmful = torch.tensor(block_ids(pair.harmful, tokenizer))
    return guard, tokenizer, width, harmful, SimilarityObjective(lora_victim, tokenizer, pair, harmful, width)


def _direct_gradient(victim, similarity, block):
    ids = torch.tensor([similarity.head + block.tolist() + similarity.tail])
    labels = ids.clone()
    labels[0, : similarity.prompt_length] = -100
    loss = victim(input_ids=ids, labels=labels).loss
    return torch.cat([grad.reshape(-1) for grad in torch.autograd.grad(loss, similarity.params)])


def test_step_zero_cosine_is_one_and_f_sim_is_minus_the_norm(marker_pair, lora_victim, pairs):
    _guard, _tok, _width, harmful, similarity = _setup(marker_pair, lora_victim, pairs[0])
    f_sim, cosine = similarity(harmful.unsqueeze(0))
    assert float(cosine[0]) == pytest.approx(1.0, abs=1e-5)
    assert float(f_sim[0]) == pytest.approx(-float(similarity.target_norm), rel=1e-5)
    assert float(similarity.target_norm) > 0


def test_cosine_and_gradient_equal_a_direct_computation(marker_pair, lora_victim, pairs):
    _guard, tokenizer, _width, harmful, similarity = _setup(marker_pair, lora_victim, pairs[0])
    changed = harmful.clone()
    changed[1:3] = torch.tensor(tokenizer(" water task", add_special_tokens=False)["input_ids"][:2])
    direct_target = _direct_gradient(lora_victim, similarity, harmful)
    direct = _direct_gradient(lora_victim, similarity, changed)
    assert torch.allclose(similarity.target, direct_target, atol=1e-6)
    expected = torch.nn.functional.cosine_similarity(direct, direct_target, dim=0)
    f_sim, cosine = similarity(changed.unsqueeze(0))
    assert float(cosine[0]) == pytest.approx(float(expected), abs=1e-5)
    assert float(cosine[0]) < 0.9999
    assert float(f_sim[0]) == pytest.approx(-float(direct @ direct_target / direct.norm()), rel=1e-4)
    # one-hot input (the differentiable path) gives the same gradient as ids
    hot = torch.nn.functional.one_hot(changed, similarity.width).float().unsqueeze(0)
    assert torch.allclose(similarity.gradient(hot), direct, atol=1e-6)


def test_f_guard_is_minus_log_p_safe_at_the_first_answer_position(marker_pair, pairs):
    guard, tokenizer, width = marker_pair[0], marker_pair[2], len(marker_pair[2])
    objective = GuardObjective(guard, pairs[0], width)
    block = torch.tensor(block_ids(pairs[0].harmful, tokenizer))
    ids = torch.tensor([objective.head + block.tolist() + objective.tail])
    with torch.no_grad():
        expected = -torch.log_softmax(guard.model(input_ids=ids).logits[0, -1].float(), -1)[guard.safe_id]
        value = objective(block.unsqueeze(0))
    assert float(value[0]) == pytest.approx(float(expected), rel=1e-5)
    assert float(value[0]) > 1.0  # the marker sample is flagged: P(safe) is small


def test_second_order_token_gradient_matches_finite_differences(marker_pair, lora_victim, pairs):
    _guard, _tok, width, harmful, similarity = _setup(marker_pair, lora_victim, pairs[0])
    changed = harmful.clone()
    changed[0] = 300
    hot = torch.nn.functional.one_hot(changed, width).float().unsqueeze(0).requires_grad_(True)
    (gradient,) = torch.autograd.grad(similarity(hot, create_graph=True)[0][0], hot)
    direction = torch.zeros_like(hot)
    direction[0, 2, 40], direction[0, 2, changed[2]] = 1.0, -1.0
    epsilon = 1e-2
    plus = similarity(hot.detach() + epsilon * direction)[0][0]
    minus = similarity(hot.detach() - epsilon * direction)[0][0]
    numeric = float((plus - minus) / (2 * epsilon))
    assert float((gradient * direction).sum()) == pytest.approx(numeric, rel=0.05, abs=1e-4)
    assert gradient.abs().sum() > 0


def test_dual_loss_weights_and_single_terms():
    f_guard, f_sim = torch.tensor([2.0]), torch.tensor([-0.5])
    assert float(dual_loss(0.1, f_guard, f_sim)) == pytest.approx(0.1 * 2.0 + 0.9 * -0.5)
    assert dual_loss(1.0, f_guard, f_sim) is f_guard
    assert dual_loss(0.0, f_guard, f_sim) is f_sim


def test_vmapped_scoring_equals_one_backward_per_block(marker_pair, lora_victim, pairs):
    _guard, _tok, _width, harmful, similarity = _setup(marker_pair, lora_victim, pairs[1])
    blocks = harmful.repeat(5, 1)
    blocks[torch.arange(5), torch.arange(5) % len(harmful)] = torch.tensor([300, 301, 302, 303, 304])
    f_sim, cosine = similarity(blocks)
    assert similarity.batched  # the tiny Llama + LoRA is vmappable: the fast path ran
    for index, block in enumerate(blocks):
        expected_f, expected_cos = similarity.terms(similarity.gradient(block[None]))
        assert float(cosine[index]) == pytest.approx(float(expected_cos), abs=1e-5)
        assert float(f_sim[index]) == pytest.approx(float(expected_f), rel=1e-4)
