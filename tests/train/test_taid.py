"""TAID: the objective's hand values and gradients, and the adaptive schedule."""

from __future__ import annotations

import math

import pytest
import torch

from headwater.train import TAIDSchedule, distill_loss, taid_loss, taid_terms


def _logits():
    return torch.tensor([[[0.0, 0.0]]], requires_grad=True), torch.tensor([[[math.log(3.0), 0.0]]])


def test_hand_value_at_half():
    s, t = _logits()
    loss = taid_loss(s, t, 0.5)
    loss.backward()
    assert loss.item() == pytest.approx(0.036341, abs=1e-6)
    assert s.grad[0, 0].tolist() == pytest.approx([-0.133975, 0.133975], abs=1e-6)


def test_t_one_is_forward_kl_and_t_zero_is_nothing():
    s, t = _logits()
    loss = taid_loss(s, t, 1.0)
    loss.backward()
    assert loss.item() == pytest.approx(0.130812, abs=1e-6)
    assert s.grad[0, 0].tolist() == pytest.approx([-0.25, 0.25], abs=1e-6)
    s0, t0 = _logits()
    zero = taid_loss(s0, t0, 0.0)
    zero.backward()
    assert zero.item() == pytest.approx(0.0, abs=1e-7) and torch.all(s0.grad == 0)


@pytest.mark.parametrize("t", [0.0, 0.01, 0.4, 1.0])
def test_gradient_is_q_minus_p_t(t):
    generator = torch.Generator().manual_seed(1)
    s = torch.randn(2, 3, 17, generator=generator, requires_grad=True)
    z_t = torch.randn(2, 3, 17, generator=generator, requires_grad=True)
    taid_loss(s, z_t, t).backward()
    q = s.detach().softmax(-1)
    p_t = ((1 - t) * s.detach() + t * z_t.detach()).softmax(-1)
    assert torch.allclose(s.grad, (q - p_t) / 6, atol=1e-6)
    assert z_t.grad is None


def test_t_one_equals_kl_on_random_logits_in_value_and_gradient():
    generator = torch.Generator().manual_seed(2)
    base, teacher = torch.randn(3, 4, 9, generator=generator), torch.randn(3, 4, 9, generator=generator)
    a, b = base.clone().requires_grad_(True), base.clone().requires_grad_(True)
    taid, kl = taid_loss(a, teacher, 1.0), distill_loss("kl", b, teacher)
    taid.backward()
    kl.backward()
    assert taid.item() == pytest.approx(kl.item(), rel=1e-6)
    assert torch.allclose(a.grad, b.grad, atol=1e-7)


def test_cross_entropy_is_kl_plus_entropy():
    generator = torch.Generator().manual_seed(3)
    s, t = torch.randn(1, 2, 5, generator=generator), torch.randn(1, 2, 5, generator=generator)
    terms = taid_terms(s, t, 0.3)
    p_t = (0.7 * s + 0.3 * t).softmax(-1)
    entropy = -(p_t * p_t.log()).sum(-1).mean()
    assert terms.cross_entropy.item() == pytest.approx(terms.kl.item() + entropy.item(), rel=1e-5)


@pytest.mark.parametrize("t", [0.0, 0.4, 0.9])
def test_minus_inf_student_logits_are_masked_out_not_nan(t):
    """A banned token (student logit −inf) gives NaN without the official code's isinf mask; with it, the loss and
    its gradient equal those on the vocabulary without that token."""
    generator = torch.Generator().manual_seed(4)
    base, teacher = torch.randn(2, 3, 6, generator=generator), torch.randn(2, 3, 6, generator=generator)
    banned = base.clone()
    banned[0, 1, 2] = banned[1, :, 5] = -math.inf
    a = banned.clone().requires_grad_(True)
    terms = taid_terms(a, teacher, t)
    terms.kl.backward()
    assert torch.isfinite(terms.kl) and torch.isfinite(terms.cross_entropy) and torch.isfinite(a.grad).all()
    row = (0, 1)  # one position where only column 2 is banned
    reference = base[row][[0, 1, 3, 4, 5]].clone().requires_grad_(True)
    expected = taid_loss(reference[None, None], teacher[row][[0, 1, 3, 4, 5]][None, None], t)
    alone = banned[row].clone().requires_grad_(True)
    taid_loss(alone[None, None], teacher[row][None, None], t).backward()
    expected.backward()
    assert taid_loss(banned[row][None, None], teacher[row][None, None], t).item() == pytest.approx(
        expected.item(), rel=1e-5
    )
    assert torch.allclose(alone.grad[[0, 1, 3, 4, 5]], reference.grad, atol=1e-6) and alone.grad[2] == 0


def test_minus_inf_student_logits_at_t_one_stay_finite():
    s = torch.tensor([[[0.0, -math.inf, 1.0]]], requires_grad=True)
    terms = taid_terms(s, torch.tensor([[[0.5, 0.2, 0.1]]]), 1.0)
    terms.kl.backward()
    assert torch.isfinite(terms.kl) and torch.isfinite(s.grad).all()


def _run(schedule: TAIDSchedule, steps: int, loss=lambda step: 1.0) -> list[float]:
    return [schedule.update(loss(step), step) for step in range(steps)]


def test_schedule_with_constant_loss_follows_the_spec_values():
    schedule = TAIDSchedule(15_000)
    ts = _run(schedule, 15_000)
    assert [round(ts[n * 15_000 // 4 - 1], 3) for n in (1, 2, 3)] == pytest.approx([0.765, 0.908, 0.964], abs=2e-3)


def test_short_runs_see_the_linear_ramp():
    schedule = TAIDSchedule(1_000)
    ts = _run(schedule, 1_000)
    assert ts[499] == pytest.approx(schedule.linear(499))
    assert ts[-1] == pytest.approx(schedule.linear(999)) and ts[-1] < 1.0


def test_schedule_is_monotone_bounded_and_slowed_by_rising_loss():
    falling, rising = TAIDSchedule(20_000, alpha=5e-3), TAIDSchedule(20_000, alpha=5e-3)
    down = _run(falling, 2_000, lambda step: 10.0 / (1 + step))
    up = _run(rising, 2_000, lambda step: 1.0 + step)
    assert all(b >= a for a, b in zip(down, down[1:], strict=False))
    assert all(b >= a for a, b in zip(up, up[1:], strict=False))
    assert all(0.4 <= t <= 1.0 for t in down + up)
    assert down[-1] > up[-1]


def test_non_finite_loss_changes_nothing_and_state_round_trips():
    schedule = TAIDSchedule(10_000, alpha=1e-2)
    _run(schedule, 50)
    before = schedule.t
    assert schedule.update(float("nan"), 50) == before
    restored = TAIDSchedule(10_000, alpha=1e-2)
    restored.load_state_dict(schedule.state_dict())
    assert restored.update(1.0, 51) == schedule.update(1.0, 51)


def test_non_adaptive_is_the_ramp():
    schedule = TAIDSchedule(100, adaptive=False, alpha=1.0)
    ts = _run(schedule, 100, lambda step: 1.0 / (1 + step))
    assert ts[50] == pytest.approx(schedule.linear(50))
