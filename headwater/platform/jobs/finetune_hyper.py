"""A fine-tuning method's `hyperparameters`, resolved at create: OpenAI's names (`n_epochs`, `batch_size`,
`learning_rate_multiplier`; `beta` for `dpo`) with "auto" (or absent) meaning our default, plus ours (`sft_weight`
for `dpo`, `lora` for the methods that take it). An unknown name or a bad value is a 400 naming
`method.<type>.hyperparameters.<name>`, so a misspelt setting is never silently ignored."""

from __future__ import annotations

from headwater.errors import InvalidRequestError
from headwater.platform.jobs.finetune_lora import LORA_METHODS, lora_setting

Number = tuple[type, float | int, bool]
"""(int or float, the default, whether 0 is allowed)."""
COMMON: dict[str, Number] = {
    "n_epochs": (int, 3, False),
    "batch_size": (int, 8, False),
    "learning_rate_multiplier": (float, 1.0, False),
}
PER_METHOD: dict[str, dict[str, Number]] = {
    "dpo": {
        "beta": (float, 0.1, False),  # DPO's KL strength (Rafailov et al. 2023, eq. 7); OpenAI's name and default
        "sft_weight": (float, 1.0, True),  # the NLL term's weight in the judge's DPO+SFT recipe; 0: plain DPO
    },
}


def method_settings(settings: dict, kind: str, allowed: tuple[str, ...] = ("hyperparameters",)) -> None:
    """`method.<kind>` holds only `allowed` keys; any other is a 400 naming it (never silently ignored)."""
    unknown = sorted(set(settings) - set(allowed))
    if unknown:
        raise InvalidRequestError(
            f"method.{kind}.{unknown[0]} is not a {kind} setting; use {', '.join(allowed)}",
            param=f"method.{kind}.{unknown[0]}",
        )


def resolve_hyperparameters(given: object, kind: str) -> dict[str, object]:
    """Every hyperparameter of method `kind`, resolved (the job object echoes them so)."""
    where = f"method.{kind}.hyperparameters"
    if given is None:
        given = {}
    if not isinstance(given, dict):
        raise InvalidRequestError(f"{where} must be an object", param=where)
    numbers = {**COMMON, **PER_METHOD.get(kind, {})}
    names = [*numbers, *(["lora"] if kind in LORA_METHODS else [])]
    unknown = sorted(set(given) - set(names))
    if unknown:
        raise InvalidRequestError(
            f"{where}.{unknown[0]} is not a {kind} hyperparameter; use {', '.join(names)}",
            param=f"{where}.{unknown[0]}",
        )
    resolved: dict[str, object] = {
        name: _number(given.get(name, "auto"), spec, f"{where}.{name}") for name, spec in numbers.items()
    }
    if kind in LORA_METHODS:
        resolved["lora"] = lora_setting(given.get("lora"), f"{where}.lora")
    return resolved


def _number(value: object, spec: Number, where: str) -> float | int:
    kind, default, zero = spec
    if value == "auto":
        return default
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0 or (value == 0 and not zero):
        bound = "a non-negative" if zero else "a positive"
        raise InvalidRequestError(f"{where} must be {bound} number or 'auto', got {value!r}", param=where)
    if kind is int and int(value) != value:
        raise InvalidRequestError(f"{where} must be a whole number, got {value!r}", param=where)
    return kind(value)
