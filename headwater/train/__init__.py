"""Training: distillation (TAID and baseline losses, DistillationTrainer), critique fine-tuning and SFT."""

from headwater.train.cft import cft_row, parse_verdict, sft_row
from headwater.train.critique_data import BuildReport, build_critique_data, sample_responses
from headwater.train.losses import LOSS_NAMES, AllMaskedWarning, distill_loss
from headwater.train.selection import (
    SELECT_BY,
    CheckpointSelector,
    SelectionConfig,
    SelectionResult,
    ValidationItem,
    read_validation,
)
from headwater.train.sft import FineTuneConfig, FineTuneResult, fine_tune
from headwater.train.taid import TAIDSchedule, TAIDTerms, taid_loss, taid_terms
from headwater.train.trainer import DistillationTrainer, check_compatible, held_out_kl

__all__ = [
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
