"""The victim's LoRA adapters: the trainable weights the Virus gradient g(x) is taken over (arXiv 2501.17433, Eq. 3).

The official code computes g over LoRA adapters of rank 32 and α = 4 on the attention's q/k/v projections (its
`train.py`); `VirusConfig` holds those as defaults. Layer names differ between architectures (GPT-2 fuses q/k/v into
`c_attn`, GPT-NeoX into `query_key_value`), so names that match no linear layer are an error that lists the
victim's linear layers instead of a LoRA silently placed elsewhere.
"""

from __future__ import annotations

from typing import cast

import torch
from transformers import PreTrainedModel

from headwater.errors import InvalidRequestError
from headwater.safety.virus.search import VirusConfig

ALL_LINEAR = "all-linear"
FUSED_ATTENTION = ("c_attn", "query_key_value", "qkv_proj", "Wqkv", "qkv")
"""Known names of fused q/k/v projections, suggested when the q/k/v names are absent."""


def linear_layer_names(model: PreTrainedModel) -> set[str]:
    """Last name components of the model's linear layers (nn.Linear and GPT-2's Conv1D), the names LoRA targets."""
    return {
        name.rsplit(".", 1)[-1]
        for name, module in model.named_modules()
        if name and (isinstance(module, torch.nn.Linear) or type(module).__name__ == "Conv1D")
    }


def lora_targets(model: PreTrainedModel, target_modules: tuple[str, ...]) -> list[str] | str:
    """`target_modules` checked against the model: every name must be a linear layer of it (or `all-linear`)."""
    if target_modules == (ALL_LINEAR,):
        return ALL_LINEAR
    available = linear_layer_names(model)
    missing = [name for name in target_modules if name not in available]
    if missing:
        fused = [name for name in FUSED_ATTENTION if name in available]
        hint = f"; this model fuses q/k/v into {fused[0]!r}: target that layer instead" if fused else ""
        raise InvalidRequestError(
            f"target_modules {', '.join(missing)}: no linear layer of the victim has that name; its linear layers "
            f"are {', '.join(sorted(available))} (or use {ALL_LINEAR}){hint}",
            param="target_modules",
        )
    return list(target_modules)


def prepare_victim(
    model: PreTrainedModel, config: VirusConfig | None = None, seed: int | None = None
) -> PreTrainedModel:
    """The victim with fresh LoRA adapters shaped by `config` (rank, α, target layers; the official r = 32, α = 4 on
    q/k/v by default), their initialisation seeded (`seed`, else `config.seed`), eager attention (the fused CPU
    attention kernels have no double backward) and frozen base weights.

    A victim that already carries adapters (a peft model) is used as it is: the official attack takes g over the
    aligned model's own LoRA. peft injects the adapters into `model` itself: pass a copy (`copy.deepcopy`) to keep
    the original untouched."""
    from peft import LoraConfig, PeftModel, get_peft_model

    config = config or VirusConfig()
    model.set_attn_implementation("eager")
    if isinstance(model, PeftModel):
        return model
    lora = LoraConfig(
        r=config.lora_rank,
        lora_alpha=config.lora_alpha,  # type: ignore[arg-type]  # peft says int; scaling = alpha / r takes a float
        target_modules=lora_targets(model, config.target_modules),
        lora_dropout=0.0,
        bias="none",
        task_type="CAUSAL_LM",
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed if seed is None else seed)
        # a PeftModel forwards every attribute of the PreTrainedModel it wraps
        return cast(PreTrainedModel, get_peft_model(model, lora))
