"""Distillation losses over [batch, seq, vocab] logits: forward/reverse KL, TVD, skew KL/RKL, generalized JSD.

p is the teacher's distribution, q the student's; the gradient flows through q everywhere, mixtures included.
Softmax runs in float32; a temperature T ≠ 1 divides both logits (no T² factor). The per-token losses are
computed chunk by chunk along the sequence (recomputed in backward), so peak memory holds a few chunks of
full-vocabulary tensors rather than several copies of the whole batch. Token-weighted mean over mask == 1; an
all-masked batch gives 0 with a warning, never NaN.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint

from headwater.errors import InvalidRequestError
from headwater.train.methods import LOSS_NAMES

PerToken = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
"""(student log-probs, teacher log-probs), both [..., V] float32 → per-token loss [...]."""
DEFAULT_CHUNK = 256


class AllMaskedWarning(UserWarning):
    """A batch had no position to learn from; its loss is 0."""


def _kl(log_p: torch.Tensor, log_q: torch.Tensor) -> torch.Tensor:
    """KL(p ‖ q) per position, from log-probabilities. A token either side bans (log-probability −inf, e.g. a
    student logit of −inf) adds nothing, as the official TAID/DistiLLM code masks `isinf` logits out of the sum:
    without it 0·log 0 is NaN and a student-banned token with teacher mass makes the loss infinite. The masked
    terms are computed on safe values, so no NaN reaches the gradient either."""
    banned = torch.isinf(log_p) | torch.isinf(log_q)
    if not bool(banned.any()):
        return (log_p.exp() * (log_p - log_q)).sum(-1)
    safe_p, safe_q = log_p.masked_fill(banned, 0.0), log_q.masked_fill(banned, 0.0)
    return (safe_p.exp() * (safe_p - safe_q)).masked_fill(banned, 0.0).sum(-1)


def _mixture_log(log_a: torch.Tensor, log_b: torch.Tensor, weight_a: float) -> torch.Tensor:
    """log(w·a + (1−w)·b), stable."""
    stacked = torch.stack([log_a + torch.log(torch.tensor(weight_a)), log_b + torch.log(torch.tensor(1 - weight_a))])
    return torch.logsumexp(stacked, dim=0)


def per_token_kl(log_q: torch.Tensor, log_p: torch.Tensor) -> torch.Tensor:
    return _kl(log_p, log_q)


def per_token_rkl(log_q: torch.Tensor, log_p: torch.Tensor) -> torch.Tensor:
    return _kl(log_q, log_p)


def per_token_tvd(log_q: torch.Tensor, log_p: torch.Tensor) -> torch.Tensor:
    return 0.5 * (log_p.exp() - log_q.exp()).abs().sum(-1)


def skew_kl(alpha: float) -> PerToken:
    """KL(p ‖ αp + (1−α)q) (DistiLLM)."""
    return lambda log_q, log_p: _kl(log_p, _mixture_log(log_p, log_q, alpha))


def skew_rkl(alpha: float) -> PerToken:
    """KL(q ‖ (1−α)p + αq) (DistiLLM)."""
    return lambda log_q, log_p: _kl(log_q, _mixture_log(log_p, log_q, 1 - alpha))


def generalized_jsd(beta: float) -> PerToken:
    """β·KL(p ‖ m) + (1−β)·KL(q ‖ m), m = βp + (1−β)q; β = 0 is forward KL and β = 1 reverse KL."""
    if beta == 0:
        return per_token_kl
    if beta == 1:
        return per_token_rkl

    def jsd(log_q: torch.Tensor, log_p: torch.Tensor) -> torch.Tensor:
        log_m = _mixture_log(log_p, log_q, beta)
        return beta * _kl(log_p, log_m) + (1 - beta) * _kl(log_q, log_m)

    return jsd


def per_token_loss(name: str, alpha: float = 0.1, beta: float = 0.1) -> PerToken:
    """The per-token function of a baseline by name."""
    table: dict[str, Callable[[], PerToken]] = {
        "kl": lambda: per_token_kl,
        "rkl": lambda: per_token_rkl,
        "tvd": lambda: per_token_tvd,
        "skew_kl": lambda: skew_kl(alpha),
        "skew_rkl": lambda: skew_rkl(alpha),
        "jsd": lambda: generalized_jsd(beta),
    }
    if name not in table:
        raise InvalidRequestError(f"unknown loss {name!r}; allowed: {', '.join(LOSS_NAMES)}", param="method")
    if not 0 <= alpha <= 1 or not 0 <= beta <= 1:
        raise InvalidRequestError(f"alpha and beta must be in [0, 1], got {alpha}, {beta}", param="alpha")
    return table[name]()


def check_shapes(student_logits: torch.Tensor, teacher_logits: torch.Tensor, mask: torch.Tensor | None) -> None:
    if student_logits.shape != teacher_logits.shape:
        raise InvalidRequestError(
            f"student logits {tuple(student_logits.shape)} and teacher logits {tuple(teacher_logits.shape)} differ: "
            "slice both to the shared tokenizer's length first",
            param="teacher_logits",
        )
    if mask is not None and mask.shape != student_logits.shape[:-1]:
        raise InvalidRequestError(
            f"mask {tuple(mask.shape)} must be logits' shape without the vocabulary {tuple(student_logits.shape[:-1])}",
            param="mask",
        )


def chunked_per_token(
    fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor,
    chunk_size: int = DEFAULT_CHUNK,
) -> torch.Tensor:
    """fn(student chunk, teacher chunk) over sequence chunks of [B, S, V] logits → [B, S]."""
    pieces = []
    for start in range(0, student_logits.shape[1], chunk_size):
        s = student_logits[:, start : start + chunk_size]
        t = teacher_logits[:, start : start + chunk_size]
        if torch.is_grad_enabled() and s.requires_grad:
            pieces.append(checkpoint(fn, s, t, use_reentrant=False))
        else:
            pieces.append(fn(s, t))
    return torch.cat(pieces, dim=1) if pieces else student_logits.new_zeros(student_logits.shape[:2])


def masked_mean(per_token: torch.Tensor, mask: torch.Tensor | None, anchor: torch.Tensor) -> torch.Tensor:
    """Token-weighted mean over mask == 1; 0 (kept in the graph of `anchor`) with a warning when none counts."""
    if mask is None:
        return per_token.mean() if per_token.numel() else anchor.sum() * 0.0
    weights = mask.to(per_token.dtype)
    count = weights.sum()
    if count.item() == 0:
        warnings.warn("every position of the batch is masked: its loss is 0", AllMaskedWarning, stacklevel=3)
        return anchor.sum() * 0.0
    return (per_token * weights).sum() / count


def distill_loss(
    name: str,
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor,
    mask: torch.Tensor | None = None,
    *,
    temperature: float = 1.0,
    alpha: float = 0.1,
    beta: float = 0.1,
    chunk_size: int = DEFAULT_CHUNK,
) -> torch.Tensor:
    """A baseline distillation loss by name (`kl`, `rkl`, `tvd`, `skew_kl`, `skew_rkl`, `jsd`) as a scalar."""
    check_shapes(student_logits, teacher_logits, mask)
    token_loss = per_token_loss(name, alpha, beta)
    teacher_logits = teacher_logits.detach()

    def fn(s: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return token_loss(F.log_softmax(s.float() / temperature, -1), F.log_softmax(t.float() / temperature, -1))

    return masked_mean(chunked_per_token(fn, student_logits, teacher_logits, chunk_size), mask, student_logits)
