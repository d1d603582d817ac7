"""Names of the training methods and choices, in a module light enough for a command line to read without torch."""

from __future__ import annotations

LOSS_NAMES = ("kl", "rkl", "tvd", "skew_kl", "skew_rkl", "jsd")
"""The baseline losses (headwater.train.losses)."""
METHODS = ("taid", *LOSS_NAMES)
"""Every method `distill` accepts."""
SELECT_BY = ("exact-match", "judge")
"""How a CFT/SFT run scores its checkpoints on the validation set (headwater.train.selection)."""
