"""The `distill` method of a fine-tuning job: `{"type": "distill", "distill": {"teacher": T, "loss": L,
"hyperparameters": {...}}}`. Checked in the gateway without torch (the loss names come from the light
`headwater.train.methods`); the teacher is resolved to what the worker loads, so a job never starts on a name the
platform cannot find."""

from __future__ import annotations

from collections.abc import Mapping

from headwater.errors import InvalidRequestError, NotFoundError
from headwater.models.builtin import BUILTIN_MODELS, is_builtin
from headwater.platform.catalogue import CatalogueEntry
from headwater.train.methods import METHODS as LOSSES

FIELDS = ("teacher", "loss", "hyperparameters")
DEFAULT_LOSS = "taid"


def distill_settings(settings: dict) -> dict[str, str]:
    """`method.distill`'s teacher (required) and loss (default taid), each refused with a 400 naming its field.
    Unknown keys are refused too, so a misspelt option is never silently ignored."""
    unknown = sorted(set(settings) - set(FIELDS))
    if unknown:
        raise InvalidRequestError(
            f"method.distill.{unknown[0]} is not a distill setting; use {', '.join(FIELDS)}",
            param=f"method.distill.{unknown[0]}",
        )
    teacher = settings.get("teacher")
    if not isinstance(teacher, str) or not teacher:
        raise InvalidRequestError(
            "method.distill.teacher is required: the served model or built-in that teaches the student",
            param="method.distill.teacher",
        )
    loss = settings.get("loss", DEFAULT_LOSS)
    if loss not in LOSSES:
        raise InvalidRequestError(
            f"method.distill.loss must be one of {', '.join(LOSSES)}, got {loss!r}", param="method.distill.loss"
        )
    return {"teacher": teacher, "loss": loss}


def teacher_source(teacher: str, entries: Mapping[str, CatalogueEntry]) -> str:
    """What the worker loads for `teacher`: a catalogued model's weights (its `model`: built-in, HF id or folder),
    or a built-in by name; anything else is a 404 naming `method.distill.teacher`."""
    entry = entries.get(teacher)
    if entry is not None:
        return entry.model
    if is_builtin(teacher):
        return teacher
    known = ", ".join(sorted({*entries, *BUILTIN_MODELS}))
    raise NotFoundError(
        f"teacher {teacher!r} is neither a served model nor a built-in; available: {known}",
        param="method.distill.teacher",
    )
