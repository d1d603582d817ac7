"""Pieces every TRL-based fine-tune shares (SFT, CFT, the judge's DPO): device flags, LoRA, quiet trainers, and
saving the result where the CLI and the platform expect it."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal, TypedDict, overload

import torch
from transformers import PreTrainedTokenizerBase, Trainer, TrainerState

from headwater.models.loading import load_model

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
def lora_config(enabled: Literal[True], rank: int, alpha: int | None = None) -> LoraConfig: ...
@overload
def lora_config(enabled: bool, rank: int, alpha: int | None = None) -> LoraConfig | None: ...
def lora_config(enabled: bool, rank: int, alpha: int | None = None) -> LoraConfig | None:
    """LoRA adapters on every linear layer (alpha = 2 × rank unless given), or None for full fine-tuning."""
    if not enabled:
        return None
    from peft import LoraConfig

    scale = alpha if alpha is not None else 2 * rank
    return LoraConfig(r=rank, lora_alpha=scale, target_modules="all-linear", task_type="CAUSAL_LM")


def quiet(trainer: Trainer) -> Trainer:
    """Drop the callback that prints every log line on stdout (commands keep stdout for --json)."""
    from transformers.trainer_callback import PrinterCallback

    trainer.remove_callback(PrinterCallback)
    return trainer


def run_mean_loss(state: TrainerState, fallback: float) -> float:
    """The mean training loss over every step of the run, from the Trainer's log history (each logged loss weighted
    by the steps it covers); `fallback` (the Trainer's own figure) when no loss was logged.

    transformers' `TrainOutput.training_loss` counts only the steps of the last `train()` call, so a run resumed from
    a checkpoint would report the mean of its resumed steps alone. The log history is saved in every checkpoint's
    `trainer_state.json` and restored on resume, so it holds the earlier steps too. Our trainers log every step
    (`logging_steps=1`); with a coarser interval, steps after the last log are not counted."""
    total, steps, last_step = 0.0, 0, 0
    for entry in state.log_history:
        if "loss" in entry and "step" in entry:
            covered = int(entry["step"]) - last_step
            total, steps, last_step = total + float(entry["loss"]) * covered, steps + covered, int(entry["step"])
    return total / steps if steps > 0 else fallback


def train_run(trainer: Trainer, resume_from: Path | str | None = None) -> float:
    """Train, continuing `resume_from` (a Trainer checkpoint folder of an earlier run) when given; returns the mean
    loss over every step of the run, the resumed one's earlier steps included (`run_mean_loss`)."""
    result = trainer.train(resume_from_checkpoint=str(resume_from) if resume_from is not None else None)
    return run_mean_loss(trainer.state, result.training_loss)


def save_final(trainer: Trainer, tokenizer: PreTrainedTokenizerBase, output: Path) -> Path:
    """Save the trained model and its tokenizer to `output/final`."""
    final = output / "final"
    trainer.save_model(str(final))
    tokenizer.save_pretrained(final)
    return final


def merge_adapter(adapter: Path, base: str, output: Path, data_dir: Path | str = ".headwater") -> Path:
    """Fold the LoRA adapter saved in `adapter` into the weights of `base` and save a plain model (and the adapter's
    tokenizer) to `output`: what a serving engine loads like any other model, with no PEFT at inference time."""
    from peft import PeftModel
    from transformers import AutoTokenizer

    model = PeftModel.from_pretrained(load_model(base, data_dir=data_dir), str(adapter))
    model.merge_and_unload().save_pretrained(output)
    AutoTokenizer.from_pretrained(adapter).save_pretrained(output)  # an adapter folder has no model config
    return output
