"""The judge's training recipe (Selene Mini, §2): DPO on chosen/rejected critiques plus an NLL (SFT) term on the
chosen one, with TRL's DPOTrainer (`loss_type=["sigmoid", "sft"]`, `loss_weights=[1, alpha]`).

Pairs come from a teacher Generator sampling several critiques per labelled item (SFR-Judge: 20 at T = 0.7):
chosen = a critique whose verdict is the gold one, rejected = one whose verdict is not; parse failures are
neither; items without both are dropped; duplicates and over-long critiques are filtered; labels are balanced.
TRL's NLL term is the mean over the chosen completion's tokens (SFR divides by prompt + response length; the
Selene paper does not say): we use TRL's.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from headwater.errors import InvalidRequestError
from headwater.judge.judge import parse_for
from headwater.judge.tasks import Task
from headwater.models.fine_tuning import device_arguments, lora_config, quiet, save_final, train_run
from headwater.models.generator import GenerationParams, Generator
from headwater.models.loading import load_model, load_tokenizer

if TYPE_CHECKING:
    from transformers import TrainerCallback


@dataclass(frozen=True)
class LabelledItem:
    """A task and its gold verdict (an int score, "A"/"B", or a label)."""

    task: Task
    gold: int | str


def critique_pairs(
    items: Sequence[LabelledItem],
    teacher: Generator,
    *,
    samples: int = 4,
    temperature: float = 0.7,
    max_tokens: int = 512,
    max_chars: int = 4000,
    balance: bool = True,
    seed: int = 0,
) -> list[dict]:
    """DPO rows `{prompt, chosen, rejected, gold}` (conversational) from the teacher's sampled critiques."""
    if samples < 2:
        raise InvalidRequestError(
            "samples must be at least 2 to find a chosen and a rejected critique", param="samples"
        )
    prompts = [item.task.messages() for item in items for _ in range(samples)]
    texts = [
        g.text
        for g in teacher.generate(prompts, GenerationParams(max_tokens=max_tokens, temperature=temperature, seed=seed))
    ]
    rows = []
    for index, item in enumerate(items):
        chosen, rejected = list[str](), list[str]()
        for text in dict.fromkeys(texts[index * samples : (index + 1) * samples]):  # dedupe, keep order
            parsed = parse_for(item.task, text, truncated=False)
            if not parsed.ok or len(text) > max_chars:
                continue
            (chosen if parsed.verdict == item.gold else rejected).append(text)
        if chosen and rejected:
            rows.append(
                {
                    "prompt": item.task.messages(),
                    "chosen": [{"role": "assistant", "content": chosen[0]}],
                    "rejected": [{"role": "assistant", "content": rejected[0]}],
                    "gold": item.gold,
                }
            )
    return _balanced(rows, seed) if balance else rows


def _balanced(rows: list[dict], seed: int) -> list[dict]:
    by_label: dict[object, list[dict]] = defaultdict(list)
    for row in rows:
        by_label[row["gold"]].append(row)
    if len(by_label) < 2:
        return rows
    size = min(len(group) for group in by_label.values())
    rng = random.Random(seed)
    kept = [row for group in by_label.values() for row in rng.sample(group, size)]
    order = {id(row): i for i, row in enumerate(rows)}
    return sorted(kept, key=lambda row: order[id(row)])


@dataclass(frozen=True)
class JudgeTrainConfig:
    """DPO + SFT settings; alpha weighs the NLL term."""

    beta: float = 0.1
    alpha: float = 1.0
    learning_rate: float = 5e-6
    max_steps: int = 0
    epochs: float = 1.0
    batch_size: int = 4
    lora: bool = False
    lora_rank: int = 16
    lora_alpha: int | None = None
    """LoRA's scale numerator (the update is scaled by alpha / rank); None: 2 × rank."""
    seed: int = 0


def train_judge(
    model_name: str,
    rows: Sequence[dict],
    output: Path,
    config: JudgeTrainConfig,
    data_dir: Path | str = ".headwater",
    callbacks: Sequence[TrainerCallback] = (),
    resume_from: Path | str | None = None,
) -> tuple[float, Path, list[float]]:
    """DPO + SFT on `rows` (conversational `prompt`, `chosen`, `rejected`); returns (mean loss over every step of the
    run, saved model folder, the logged losses). `callbacks` see every logged step (the platform's fine-tuning job
    reports them as events).
    `resume_from`, a Trainer checkpoint folder of an earlier run of the same training (`output/checkpoint-N`),
    continues it: the policy's weights (or LoRA adapter), optimiser, scheduler, RNG and data order are restored;
    the reference model is the base model as in the first run, and the logged losses include the earlier steps'."""
    from datasets import Dataset
    from trl import DPOConfig, DPOTrainer

    if not rows:
        raise InvalidRequestError(
            "no preference pair to train on: the teacher never disagreed with itself", param="data"
        )
    tokenizer = load_tokenizer(model_name, data_dir=data_dir)
    model = load_model(model_name, data_dir=data_dir)
    peft_config = lora_config(config.lora, config.lora_rank, config.lora_alpha)
    args = DPOConfig(
        output_dir=str(output),
        loss_type=["sigmoid", "sft"],
        loss_weights=[1.0, config.alpha],
        beta=config.beta,
        learning_rate=config.learning_rate,
        max_steps=config.max_steps or -1,
        num_train_epochs=config.epochs,
        per_device_train_batch_size=config.batch_size,
        report_to="none",
        save_strategy="no",
        logging_steps=1,
        disable_tqdm=True,
        seed=config.seed,
        log_level="error",
        **device_arguments(),
    )
    data = Dataset.from_list([{k: row[k] for k in ("prompt", "chosen", "rejected")} for row in rows])
    trainer = DPOTrainer(
        model=model,
        args=args,
        train_dataset=data,
        processing_class=tokenizer,
        peft_config=peft_config,
        callbacks=list(callbacks),
    )
    quiet(trainer)
    loss = train_run(trainer, resume_from)
    final = save_final(trainer, tokenizer, output)
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    return loss, final, losses
