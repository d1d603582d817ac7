"""Supervised fine-tuning on prompt/completion rows with TRL's SFTTrainer: the loss covers the completion only
(its end-of-turn token included, so the model learns to stop). CFT and its SFT baseline both train through here,
with the same split, budget and settings; they differ only in their rows. With a `SelectionConfig` the model
kept is the best checkpoint on a validation set, as the CFT paper picks it, rather than the last one."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from transformers import TrainerCallback

from headwater.errors import InvalidRequestError
from headwater.models.fine_tuning import device_arguments, lora_config, quiet, save_final, train_run
from headwater.models.loading import load_model, load_tokenizer
from headwater.train.selection import CheckpointSelector, SelectionConfig, SelectionResult

BEST_FOLDER = "best"


@dataclass(frozen=True)
class FineTuneConfig:
    """The training budget and settings (paper CFT: lr 5e-6, 1 epoch, cosine, warm-up 0.1, length 2 048, and a
    global batch of 512 = 8 per device × 8 accumulation × 8 GPUs)."""

    max_steps: int = 0
    epochs: float = 1.0
    learning_rate: float = 5e-6
    batch_size: int = 8
    """Examples per device per micro-batch."""
    grad_accum: int = 1
    """Micro-batches per optimiser step: the batch per step is batch_size × grad_accum × processes."""
    max_length: int = 2048
    warmup_ratio: float = 0.1
    """Share of the steps spent warming up (transformers takes a float below 1 as a ratio)."""
    lora: bool = False
    lora_rank: int = 16
    lora_alpha: int | None = None
    """LoRA's scale numerator (the update is scaled by alpha / rank); None: 2 × rank."""
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("batch_size", "grad_accum"):
            if getattr(self, name) < 1:
                raise InvalidRequestError(f"{name} must be at least 1, got {getattr(self, name)}", param=name)


@dataclass(frozen=True)
class FineTuneResult:
    """What a fine-tune produced."""

    train_loss: float
    """Mean training loss over the run."""
    model: Path
    """Folder of the model kept: the best checkpoint with a selection, else the last."""
    selection: SelectionResult | None = None
    """The validation scores and the step kept, when a selection was asked for."""


def fine_tune(
    model_name: str,
    rows: Sequence[dict],
    output: Path,
    config: FineTuneConfig,
    data_dir: Path | str = ".headwater",
    callbacks: Sequence[TrainerCallback] = (),
    selection: SelectionConfig | None = None,
    resume_from: Path | str | None = None,
) -> FineTuneResult:
    """Train `model_name` on prompt/completion `rows` into `output/final`: the last model, or with `selection` the
    checkpoint that scored best on the validation set. `resume_from`, a Trainer checkpoint folder of an earlier
    run of the same training (`output/checkpoint-N`), continues it where it stopped: weights, optimiser, scheduler,
    RNG and the data order are restored (transformers' `resume_from_checkpoint`)."""
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    if not rows:
        raise InvalidRequestError("no training example", param="data")
    tokenizer = load_tokenizer(model_name, data_dir=data_dir)
    tokenizer.padding_side = "right"
    model = load_model(model_name, data_dir=data_dir)
    peft_config = lora_config(config.lora, config.lora_rank, config.lora_alpha)
    selector = CheckpointSelector(selection, output / BEST_FOLDER) if selection is not None else None
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
        callbacks=[*callbacks, *([selector] if selector else [])],
    )

    quiet(trainer)
    loss = train_run(trainer, resume_from)
    if selector is None or selector.result.best_step is None:
        return FineTuneResult(loss, save_final(trainer, tokenizer, output))
    return FineTuneResult(loss, _keep_best(output), selector.result)


def _keep_best(output: Path) -> Path:
    """Make the best checkpoint the output model, `output/final`."""
    final = output / "final"
    if final.exists():
        shutil.rmtree(final)
    return Path(shutil.move(output / BEST_FOLDER, final))
