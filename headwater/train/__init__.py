"""Training: distillation (TAID and baseline losses, DistillationTrainer), critique fine-tuning and SFT."""

from headwater.train.cft import cft_row, parse_verdict, sft_row
from headwater.train.critique_data import BuildReport, build_critique_data, sample_responses
from headwater.train.losses import LOSS_NAMES, AllMaskedWarning, distill_loss
from headwater.train.sft import FineTuneConfig, fine_tune
from headwater.train.taid import TAIDSchedule, TAIDTerms, taid_loss, taid_terms
from headwater.train.trainer import DistillationTrainer, check_compatible, held_out_kl

__all__ = [
    "LOSS_NAMES",
    "AllMaskedWarning",
    "BuildReport",
    "DistillationTrainer",
    "FineTuneConfig",
    "TAIDSchedule",
    "TAIDTerms",
    "build_critique_data",
    "cft_row",
    "check_compatible",
    "distill_loss",
    "fine_tune",
    "held_out_kl",
    "parse_verdict",
    "sample_responses",
    "sft_row",
    "taid_loss",
    "taid_terms",
]
