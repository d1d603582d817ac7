"""Supervised fine-tuning on prompt/completion rows with TRL's SFTTrainer: the loss covers the completion only
(its end-of-turn token included, so the model learns to stop). CFT and its SFT baseline both train through here,
with the same split, budget and settings; they differ only in their rows."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from transformers import TrainerCallback

from headwater.errors import InvalidRequestError
from headwater.models.fine_tuning import device_arguments, lora_config, quiet, save_final
from headwater.models.loading import load_model, load_tokenizer


@dataclass(frozen=True)
class FineTuneConfig:
    """The training budget and settings (paper CFT: lr 5e-6, 1 epoch, cosine, warm-up 0.1, length 2 048)."""

    max_steps: int = 0
    epochs: float = 1.0
    learning_rate: float = 5e-6
    batch_size: int = 8
    grad_accum: int = 1
    max_length: int = 2048
    warmup_ratio: float = 0.1
    """Share of the steps spent warming up (transformers takes a float below 1 as a ratio)."""
    lora: bool = False
    lora_rank: int = 16
    seed: int = 0


def fine_tune(
    model_name: str,
    rows: Sequence[dict],
    output: Path,
    config: FineTuneConfig,
    data_dir: Path | str = ".headwater",
    callbacks: Sequence[TrainerCallback] = (),
) -> tuple[float, Path]:
    """Train `model_name` on prompt/completion `rows`; returns (mean training loss, folder of the saved model)."""
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    if not rows:
        raise InvalidRequestError("no training example", param="data")
    tokenizer = load_tokenizer(model_name, data_dir=data_dir)
    tokenizer.padding_side = "right"
    model = load_model(model_name, data_dir=data_dir)
    peft_config = lora_config(config.lora, config.lora_rank)
    args = SFTConfig(
        output_dir=str(output),
        max_steps=config.max_steps or -1,
        num_train_epochs=config.epochs,
        learning_rate=config.learning_rate,
        lr_scheduler_type="cosine",
        warmup_steps=config.warmup_ratio,  # a float below 1 is a share of the steps
        per_device_train_batch_size=config.batch_size,
        gradient_accumulation_steps=config.grad_accum,
        max_length=config.max_length,
        completion_only_loss=True,
        report_to="none",
        save_strategy="no",
        logging_steps=1,
        disable_tqdm=True,
        seed=config.seed,
        log_level="error",
        **device_arguments(),
    )
    trainer = SFTTrainer(
        model=model,
        args=args,
        train_dataset=Dataset.from_list(list(rows)),
        processing_class=tokenizer,
        peft_config=peft_config,
        callbacks=list(callbacks),
    )

    quiet(trainer)
    result = trainer.train()
    final = save_final(trainer, tokenizer, output)
    return result.training_loss, final
