"""Training: distillation losses, TAID and its schedule, and the distillation trainer."""

from headwater.train.losses import LOSS_NAMES, AllMaskedWarning, distill_loss
from headwater.train.taid import TAIDSchedule, TAIDTerms, taid_loss, taid_terms
from headwater.train.trainer import DistillationTrainer, check_compatible, held_out_kl

__all__ = [
    "LOSS_NAMES",
    "AllMaskedWarning",
    "DistillationTrainer",
    "TAIDSchedule",
    "TAIDTerms",
    "check_compatible",
    "distill_loss",
    "held_out_kl",
    "taid_loss",
    "taid_terms",
]
