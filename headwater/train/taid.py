"""TAID: Temporally Adaptive Interpolated Distillation (Shing et al., Sakana AI, arXiv 2501.16937, ICLR 2025).

The student q chases p_t = softmax((1−t)·stopgrad(z_s) + t·z_T): an interpolation in logit space (q^(1−t)·p^t
renormalised), recomputed every step from the current student, that moves from the student itself (t = 0) to
the teacher (t = 1). The loss is KL(p_t ‖ q), whose gradient w.r.t. z_s is q − p_t; at t = 1 it is forward KL in
value and gradient. As in the official code, the cross-entropy −Σ p_t·log q (same gradient) drives the
schedule: t rises at least linearly and faster while the loss keeps falling (`TAIDSchedule`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TypedDict

import torch
import torch.nn.functional as F

from headwater.errors import InvalidRequestError
from headwater.train.losses import DEFAULT_CHUNK, check_shapes, chunked_per_token, masked_mean

_LOGIT_FLOOR = -1e30
"""Below any real logit, far enough that exp underflows to exactly 0 even after mixing with weight 1 − t."""


@dataclass(frozen=True)
class TAIDTerms:
    """The TAID objective (KL) and the cross-entropy the schedule follows, as scalars."""

    kl: torch.Tensor
    cross_entropy: torch.Tensor


def taid_terms(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor,
    t: float,
    mask: torch.Tensor | None = None,
    *,
    temperature: float = 1.0,
    chunk_size: int = DEFAULT_CHUNK,
) -> TAIDTerms:
    """KL(p_t ‖ q) and −Σ p_t log q, token means over mask == 1.

    Vocabulary entries where the student's logit is −inf (a banned or padded token) add nothing, as the official
    code's `forward_kl` masks `isinf(logits)` out of the sum: there q = 0 and, for t < 1, p_t = 0 too, so 0·log 0
    would otherwise make the loss NaN. For t < 1 the result equals the loss with those entries removed; at t = 1
    (p_t = teacher > 0 there) the entries are dropped from the cross-entropy, as the official code does, and
    KL = CE − H(p_t). t < 1 (every training step) costs one clamp, not a mask.
    """
    check_shapes(student_logits, teacher_logits, mask)
    if not 0.0 <= t <= 1.0:
        raise InvalidRequestError(f"t must be in [0, 1], got {t}", param="t")
    teacher_logits = teacher_logits.detach()

    def fn(s: torch.Tensor, z_t: torch.Tensor) -> torch.Tensor:
        s = s.float() / temperature
        banned = torch.isinf(s) if t == 1.0 else None
        if banned is None:  # −inf → a finite floor: q and p_t stay exactly 0 there, and 0·(finite) adds nothing
            s = s.clamp(min=_LOGIT_FLOOR)
        log_p_t = F.log_softmax(_interpolate(s.detach(), z_t.float() / temperature, t), -1)
        log_q = F.log_softmax(s, -1)
        p_t = log_p_t.exp()
        cross_entropy = -(p_t * (log_q if banned is None else log_q.masked_fill(banned, 0.0))).sum(-1)
        return torch.stack([(p_t * log_p_t).sum(-1) + cross_entropy, cross_entropy], dim=-1)

    both = chunked_per_token(fn, student_logits, teacher_logits, chunk_size)
    return TAIDTerms(masked_mean(both[..., 0], mask, student_logits), masked_mean(both[..., 1], mask, student_logits))


def _interpolate(student: torch.Tensor, teacher: torch.Tensor, t: float) -> torch.Tensor:
    """(1−t)·z_s + t·z_T, with a zero weight dropping its side (0·(−inf) would be NaN)."""
    if t == 1.0:
        return teacher
    if t == 0.0:
        return student
    return (1.0 - t) * student + t * teacher


def taid_loss(
    student_logits: torch.Tensor, teacher_logits: torch.Tensor, t: float, mask: torch.Tensor | None = None, **kwargs
) -> torch.Tensor:
    """The mean over unmasked positions of KL(p_t ‖ q), a scalar (mask: 1 = counted)."""
    return taid_terms(student_logits, teacher_logits, t, mask, **kwargs).kl


class ScheduleState(TypedDict):
    """What a checkpoint keeps of a `TAIDSchedule` (JSON next to the Trainer's own state)."""

    t: float
    momentum: float
    previous: float | None
    step: int


class TAIDSchedule:
    """The adaptive interpolation parameter t (the paper's Eq. and the official code's update).

    rel = (prev − loss)/(prev + 1e-15); m = β·m + (1−β)·rel; t = min(t_end, max(t_linear, t + α·sigmoid(m)·(1−t))).
    Monotone and within [t_start, t_end]; a rising loss slows t but never reverses it. `adaptive=False` keeps
    the linear ramp. `total_steps=None` leaves the run's length to `DistillationTrainer`, which sets it from the
    Trainer's own count of optimiser steps when training begins (the official code uses Lightning's
    `estimated_stepping_batches` the same way).
    """

    def __init__(
        self,
        total_steps: int | None = None,
        t_start: float = 0.4,
        t_end: float = 1.0,
        alpha: float = 5e-4,
        beta: float = 0.99,
        adaptive: bool = True,
    ) -> None:
        if total_steps is not None and total_steps < 1:
            raise InvalidRequestError(f"total_steps must be at least 1, got {total_steps}", param="total_steps")
        if not 0.0 <= t_start <= t_end <= 1.0:
            raise InvalidRequestError(f"need 0 <= t_start <= t_end <= 1, got {t_start}, {t_end}", param="t_start")
        self.total_steps, self.t_start, self.t_end = total_steps, t_start, t_end
        self.alpha, self.beta, self.adaptive = alpha, beta, adaptive
        self.t, self.momentum, self.step = t_start, 0.0, 0
        self.previous: float | None = None

    def linear(self, step: int) -> float:
        """The ramp's floor after optimiser step `step`: t_start + (t_end − t_start)·step/total_steps."""
        if self.total_steps is None:
            raise InvalidRequestError(
                "the schedule does not know the run's length: give total_steps, or train with DistillationTrainer, "
                "which sets it when training begins",
                param="total_steps",
            )
        return self.t_start + (self.t_end - self.t_start) * min(step, self.total_steps) / self.total_steps

    def update(self, loss: float, step: int) -> float:
        """Move t after optimiser step `step` (0-based) whose mean loss was `loss`; returns the new t."""
        self.step = step
        if not math.isfinite(loss):
            return self.t
        if self.previous is None:
            self.previous = loss
            return self.t
        relative = (self.previous - loss) / (self.previous + 1e-15)
        self.momentum = self.beta * self.momentum + (1 - self.beta) * relative
        linear = self.linear(step)
        if self.adaptive:
            delta = self.alpha / (1 + math.exp(-self.momentum)) * (1 - self.t)
            self.t = min(self.t_end, max(linear, self.t + delta))
        else:
            self.t = min(self.t_end, max(self.t, linear))
        self.previous = loss
        return self.t

    def state_dict(self) -> ScheduleState:
        return {"t": self.t, "momentum": self.momentum, "previous": self.previous, "step": self.step}

    def load_state_dict(self, state: ScheduleState) -> None:
        self.t = float(state["t"])
        self.momentum = float(state["momentum"])
        self.previous = None if state["previous"] is None else float(state["previous"])
        self.step = int(state["step"])
