"""Pieces every TRL-based fine-tune shares (SFT, CFT, the judge's DPO): device flags, LoRA, quiet trainers, and
saving the result where the CLI and the platform expect it."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal, TypedDict, overload

import torch
from transformers import PreTrainedTokenizerBase, Trainer

if TYPE_CHECKING:
    from peft import LoraConfig


class DeviceArguments(TypedDict):
    """TrainingArguments fields that depend on the machine (a TypedDict, so `**` into a config is checked)."""

    use_cpu: bool
    bf16: bool


def device_arguments() -> DeviceArguments:
    """Trainer arguments for the machine: CPU when there is no GPU, bf16 on GPUs that support it."""
    gpu = torch.cuda.is_available()
    return {"use_cpu": not gpu, "bf16": gpu and torch.cuda.is_bf16_supported()}


@overload
def lora_config(enabled: Literal[True], rank: int) -> LoraConfig: ...
@overload
def lora_config(enabled: bool, rank: int) -> LoraConfig | None: ...
def lora_config(enabled: bool, rank: int) -> LoraConfig | None:
    """LoRA adapters on every linear layer (alpha = 2 × rank), or None for full fine-tuning."""
    if not enabled:
        return None
    from peft import LoraConfig

    return LoraConfig(r=rank, lora_alpha=2 * rank, target_modules="all-linear", task_type="CAUSAL_LM")


def quiet(trainer: Trainer) -> Trainer:
    """Drop the callback that prints every log line on stdout (commands keep stdout for --json)."""
    from transformers.trainer_callback import PrinterCallback

    trainer.remove_callback(PrinterCallback)
    return trainer


def save_final(trainer: Trainer, tokenizer: PreTrainedTokenizerBase, output: Path) -> Path:
    """Save the trained model and its tokenizer to `output/final`."""
    final = output / "final"
    trainer.save_model(str(final))
    tokenizer.save_pretrained(final)
    return final
