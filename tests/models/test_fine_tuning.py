"""`run_mean_loss`: the mean over every step of a run from the Trainer's log history, each logged loss weighted by the
steps it covers (a resumed run's history holds the steps before its checkpoint too)."""

from __future__ import annotations

import pytest
from transformers import TrainerState

from headwater.models.fine_tuning import run_mean_loss


def test_each_logged_loss_counts_for_the_steps_it_covers():
    history = [{"loss": 2.0, "step": 2}, {"learning_rate": 1e-4, "step": 2}, {"loss": 1.0, "step": 3}]
    state = TrainerState(log_history=[*history, {"train_loss": 9.0, "step": 3}])  # the end summary is no step
    assert run_mean_loss(state, fallback=7.0) == pytest.approx((2.0 * 2 + 1.0) / 3)


def test_with_no_loss_logged_the_trainers_own_figure_is_kept():
    assert run_mean_loss(TrainerState(log_history=[{"train_loss": 9.0, "step": 0}]), fallback=7.0) == 7.0
