"""LoRA for fine-tuning jobs: our `lora` hyperparameter (OpenAI has none) on the `supervised`, `cft` and `dpo`
methods, and the merge that makes the trained adapter a plain model the serving engine loads.

`"lora": false` (the default) trains every weight; `"lora": true` trains rank-16 adapters (alpha 32) on every
linear layer; `"lora": {"r": 8, "alpha": 16}` picks the rank and the scale numerator (alpha defaults to 2 × r).
The adapter is merged into the base weights before the model is registered (Hu et al. 2021, §4.1: W = W0 + BA,
so the merged model answers exactly as base + adapter, with no inference overhead).
"""

from __future__ import annotations

from pathlib import Path
from typing import TypedDict

from headwater.errors import InvalidRequestError

LORA_METHODS = ("supervised", "cft", "dpo")
"""The methods whose trainer takes LoRA adapters (TRL's SFT and DPO trainers); `distill` trains every weight."""
DEFAULT_RANK = 16
MAX_RANK = 1024
LoraSetting = dict[str, int]
"""`{"r": rank, "alpha": scale}` once resolved; `False` for full fine-tuning."""


def lora_setting(value: object, where: str) -> LoraSetting | bool:
    """`value` of hyperparameter `lora` resolved to False or `{"r", "alpha"}`; anything else is a 400 naming
    `where` (or its sub-field)."""
    if value is None or value is False or value == "auto":
        return False
    if value is True:
        return {"r": DEFAULT_RANK, "alpha": 2 * DEFAULT_RANK}
    if not isinstance(value, dict):
        raise InvalidRequestError(
            f'{where} must be true, false or an object like {{"r": 8, "alpha": 16}}, got {value!r}', param=where
        )
    unknown = sorted(set(value) - {"r", "alpha"})
    if unknown:
        raise InvalidRequestError(
            f"{where}.{unknown[0]} is not a LoRA setting; use r, alpha", param=f"{where}.{unknown[0]}"
        )
    rank = value.get("r", DEFAULT_RANK)
    if isinstance(rank, bool) or not isinstance(rank, int) or not 1 <= rank <= MAX_RANK:
        raise InvalidRequestError(
            f"{where}.r must be a whole number from 1 to {MAX_RANK}, got {rank!r}", param=f"{where}.r"
        )
    alpha = value.get("alpha", 2 * rank)
    if isinstance(alpha, bool) or not isinstance(alpha, int) or alpha < 1:
        raise InvalidRequestError(
            f"{where}.alpha must be a positive whole number, got {alpha!r}", param=f"{where}.alpha"
        )
    return {"r": rank, "alpha": alpha}


class LoraFields(TypedDict):
    """The LoRA fields of `FineTuneConfig` and `JudgeTrainConfig` (a TypedDict, so `**` into either is checked)."""

    lora: bool
    lora_rank: int
    lora_alpha: int | None


def lora_fields(hyperparameters: dict) -> LoraFields:
    """The trainer's LoRA fields from a job's resolved `lora` hyperparameter."""
    setting = hyperparameters.get("lora") or {}
    if not setting:
        return {"lora": False, "lora_rank": DEFAULT_RANK, "lora_alpha": None}
    return {"lora": True, "lora_rank": int(setting["r"]), "lora_alpha": int(setting["alpha"])}


def servable(model: Path, payload: dict) -> Path:
    """The folder the platform registers: `model` itself after full fine-tuning, or, after LoRA, the adapter in
    `model` merged into the job's base model (saved next to it, in `merged/`)."""
    if not (model / "adapter_config.json").exists():
        return model
    from headwater.models.fine_tuning import merge_adapter

    return merge_adapter(model, payload["model"], model.parent / "merged", payload["data_dir"])
