"""Distillation losses: the spec's hand values, gradients, masking, and the TRL oracle for jsd."""

from __future__ import annotations

import math

import pytest
import torch

from headwater.errors import InvalidRequestError
from headwater.train import LOSS_NAMES, AllMaskedWarning, distill_loss

STUDENT = torch.tensor([[[0.0, 0.0]]])
TEACHER = torch.tensor([[[math.log(3.0), 0.0]]])


@pytest.mark.parametrize(
    ("name", "kwargs", "expected"),
    [
        ("kl", {}, 0.130812),
        ("rkl", {}, 0.143841),
        ("tvd", {}, 0.25),
        ("skew_kl", {}, 0.107043),
        ("skew_rkl", {}, 0.113137),
        ("jsd", {"beta": 0.1}, 0.011831),
        ("jsd", {"beta": 0.5}, 0.033822),
    ],
)
def test_hand_values(name, kwargs, expected):
    assert distill_loss(name, STUDENT, TEACHER, **kwargs).item() == pytest.approx(expected, abs=1e-6)


def _random(seed: int = 0, shape=(2, 5, 11)):
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=generator), torch.randn(shape, generator=generator)


def test_skew_with_alpha_zero_is_kl_and_rkl():
    s, t = _random()
    assert distill_loss("skew_kl", s, t, alpha=0.0) == pytest.approx(distill_loss("kl", s, t).item(), rel=1e-5)
    assert distill_loss("skew_rkl", s, t, alpha=0.0) == pytest.approx(distill_loss("rkl", s, t).item(), rel=1e-5)


def test_jsd_zero_on_equal_inputs_and_symmetric_only_at_half():
    s, t = _random()
    assert distill_loss("jsd", s, s.clone(), beta=0.3).item() == pytest.approx(0.0, abs=1e-7)
    assert distill_loss("jsd", s, t, beta=0.5).item() == pytest.approx(distill_loss("jsd", t, s, beta=0.5).item())
    assert distill_loss("jsd", s, t, beta=0.1).item() != pytest.approx(distill_loss("jsd", t, s, beta=0.1).item())
    assert distill_loss("jsd", s, t, beta=0.0) == distill_loss("kl", s, t)
    assert distill_loss("jsd", s, t, beta=1.0) == distill_loss("rkl", s, t)


def test_jsd_matches_trl_oracle():
    gkd = pytest.importorskip("trl.experimental.gkd", reason="trl is not installed")
    s, t = _random(shape=(2, 4, 7))
    oracle = gkd.GKDTrainer.generalized_jsd_loss(s, t, beta=0.3, reduction="sum") / (2 * 4)  # per token
    assert distill_loss("jsd", s, t, beta=0.3).item() == pytest.approx(oracle.item(), rel=1e-5)


@pytest.mark.parametrize("name", ["kl", "rkl", "tvd", "skew_kl", "skew_rkl", "jsd"])
def test_gradient_reaches_the_student_only(name):
    s, t = _random()
    s.requires_grad_(True)
    t.requires_grad_(True)
    distill_loss(name, s, t).backward()
    assert s.grad is not None and s.grad.abs().sum() > 0
    assert t.grad is None


def test_masked_positions_never_change_the_loss():
    s, t = _random()
    mask = torch.ones(2, 5)
    mask[:, 3:] = 0
    s2 = s.clone()
    s2[:, 3:] += 100.0
    assert distill_loss("kl", s, t, mask) == pytest.approx(distill_loss("kl", s2, t, mask).item())
    assert distill_loss("kl", s, t, mask) == pytest.approx(distill_loss("kl", s[:, :3], t[:, :3]).item(), rel=1e-6)


def test_all_masked_is_zero_with_a_warning_not_nan():
    s, t = _random()
    s.requires_grad_(True)
    with pytest.warns(AllMaskedWarning):
        loss = distill_loss("kl", s, t, torch.zeros(2, 5))
    assert loss.item() == 0.0
    loss.backward()
    assert torch.all(s.grad == 0)


def test_chunking_gives_the_same_value_and_gradient():
    s, t = _random(shape=(2, 9, 13))
    a = s.clone().requires_grad_(True)
    b = s.clone().requires_grad_(True)
    whole = distill_loss("jsd", a, t, chunk_size=1000)
    chunked = distill_loss("jsd", b, t, chunk_size=2)
    whole.backward()
    chunked.backward()
    assert chunked.item() == pytest.approx(whole.item(), rel=1e-6)
    assert torch.allclose(a.grad, b.grad, atol=1e-7)


def test_bad_inputs():
    s, t = _random()
    with pytest.raises(InvalidRequestError, match="allowed: kl"):
        distill_loss("kld", s, t)
    with pytest.raises(InvalidRequestError, match="shared tokenizer"):
        distill_loss("kl", s, t[..., :-1])
    with pytest.raises(InvalidRequestError, match="mask"):
        distill_loss("kl", s, t, torch.ones(2, 4))


@pytest.mark.parametrize("name", LOSS_NAMES)
def test_minus_inf_student_logits_are_masked_not_nan(name):
    """A token the student bans (logit −inf) adds nothing, as the official code masks isinf logits: the loss and
    its gradient stay finite for every baseline."""
    torch.manual_seed(0)
    student = torch.randn(2, 3, 8, requires_grad=True)
    teacher = torch.randn(2, 3, 8)
    banned = torch.zeros(2, 3, 8, dtype=torch.bool)
    banned[..., 2] = True
    loss = distill_loss(name, student.masked_fill(banned, float("-inf")), teacher)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(student.grad).all()
    assert student.grad[..., 2].abs().sum() == 0  # the banned token gets no gradient
