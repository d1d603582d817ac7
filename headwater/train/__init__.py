"""Training: distillation losses, TAID and its schedule, and the distillation trainer."""

from headwater.train.losses import LOSS_NAMES, AllMaskedWarning, distill_loss
from headwater.train.taid import TAIDSchedule, TAIDTerms, taid_loss, taid_terms

__all__ = [
    "LOSS_NAMES",
    "AllMaskedWarning",
    "TAIDSchedule",
    "TAIDTerms",
    "distill_loss",
    "taid_loss",
    "taid_terms",
]
