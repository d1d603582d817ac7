"""Training: distillation (TAID and baseline losses, DistillationTrainer), critique fine-tuning and SFT."""

from __future__ import annotations

from typing import TYPE_CHECKING

from headwater._lazy import lazy_exports

if TYPE_CHECKING:
    from headwater.train.cft import cft_row, parse_verdict, sft_row
    from headwater.train.critique_data import BuildReport, build_critique_data, sample_responses
    from headwater.train.distillation import DistillConfig, DistillResult, DistillStep, distill
    from headwater.train.losses import AllMaskedWarning, distill_loss
    from headwater.train.methods import LOSS_NAMES, SELECT_BY
    from headwater.train.selection import (
        CheckpointSelector,
        SelectionConfig,
        SelectionResult,
        ValidationItem,
        read_validation,
    )
    from headwater.train.sft import FineTuneConfig, FineTuneResult, fine_tune
    from headwater.train.taid import TAIDSchedule, TAIDTerms, taid_loss, taid_terms
    from headwater.train.trainer import DistillationTrainer, check_compatible, held_out_kl

_EXPORTS = {
    "DistillConfig": "headwater.train.distillation",
    "DistillResult": "headwater.train.distillation",
    "DistillStep": "headwater.train.distillation",
    "distill": "headwater.train.distillation",
    "AllMaskedWarning": "headwater.train.losses",
    "BuildReport": "headwater.train.critique_data",
    "CheckpointSelector": "headwater.train.selection",
    "DistillationTrainer": "headwater.train.trainer",
    "FineTuneConfig": "headwater.train.sft",
    "FineTuneResult": "headwater.train.sft",
    "LOSS_NAMES": "headwater.train.methods",
    "SELECT_BY": "headwater.train.methods",
    "SelectionConfig": "headwater.train.selection",
    "SelectionResult": "headwater.train.selection",
    "TAIDSchedule": "headwater.train.taid",
    "TAIDTerms": "headwater.train.taid",
    "ValidationItem": "headwater.train.selection",
    "build_critique_data": "headwater.train.critique_data",
    "cft_row": "headwater.train.cft",
    "check_compatible": "headwater.train.trainer",
    "distill_loss": "headwater.train.losses",
    "fine_tune": "headwater.train.sft",
    "held_out_kl": "headwater.train.trainer",
    "parse_verdict": "headwater.train.cft",
    "read_validation": "headwater.train.selection",
    "sample_responses": "headwater.train.critique_data",
    "sft_row": "headwater.train.cft",
    "taid_loss": "headwater.train.taid",
    "taid_terms": "headwater.train.taid",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())

__all__ = [
    "DistillConfig",
    "DistillResult",
    "DistillStep",
    "distill",
    "LOSS_NAMES",
    "SELECT_BY",
    "AllMaskedWarning",
    "BuildReport",
    "CheckpointSelector",
    "DistillationTrainer",
    "FineTuneConfig",
    "FineTuneResult",
    "SelectionConfig",
    "SelectionResult",
    "TAIDSchedule",
    "TAIDTerms",
    "ValidationItem",
    "build_critique_data",
    "cft_row",
    "check_compatible",
    "distill_loss",
    "fine_tune",
    "held_out_kl",
    "parse_verdict",
    "read_validation",
    "sample_responses",
    "sft_row",
    "taid_loss",
    "taid_terms",
]
