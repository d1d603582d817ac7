"""Distillation on CPU: TAID's step time against forward KL on the same pair and batch (target ≤ 1.1×), and the
held-out loss of a student after the same number of steps for TAID, every baseline and plain SFT.

    .venv/bin/python benchmarks/train/distill.py [--teacher-steps 400] [--steps 200] [--json]

The synthetic task is counting ("count from 17" → "18 19 … 25"): a tiny-teacher is first trained on it with
cross-entropy, then a fresh tiny-chat student is distilled from it with each method for the same steps, batch
and learning rate. Held-out metrics: forward KL to the teacher and cross-entropy on the true continuations.
"""

from __future__ import annotations

import argparse
import functools
import json
import random
import time
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedModel, Trainer, TrainingArguments

from headwater.models.builtin import builtin_path
from headwater.models.fine_tuning import quiet
from headwater.train import LOSS_NAMES, DistillationTrainer, TAIDSchedule, held_out_kl
from headwater.train.data import Conversation, collate, encode


def counting(count: int, seed: int) -> list[Conversation]:
    rng = random.Random(seed)
    rows = []
    for _ in range(count):
        start = rng.randrange(0, 80)
        rows.append(
            Conversation(
                [{"role": "user", "content": f"count from {start}"}], " ".join(str(start + i) for i in range(1, 9))
            )
        )
    return rows


def arguments(folder: Path, steps: int, lr: float) -> TrainingArguments:
    return TrainingArguments(
        output_dir=str(folder),
        per_device_train_batch_size=16,
        max_steps=steps,
        learning_rate=lr,
        lr_scheduler_type="cosine",
        report_to="none",
        use_cpu=True,
        save_strategy="no",
        logging_steps=50,
        disable_tqdm=True,
        seed=0,
        log_level="error",
    )


def held_out_ce(model: PreTrainedModel, batches: list[dict[str, torch.Tensor]]) -> float:
    with torch.no_grad():
        losses = [model(**batch).loss.item() for batch in batches]
    return sum(losses) / len(losses)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--teacher-steps", type=int, default=400)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--data-dir", default=".headwater")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    data_dir, work = Path(args.data_dir), Path(args.data_dir) / "bench-distill"
    tokenizer = AutoTokenizer.from_pretrained(builtin_path("tiny-chat", data_dir))
    collator = functools.partial(collate, pad_id=tokenizer.pad_token_id)
    train = [encode(c, tokenizer, 64) for c in counting(2000, seed=1)]
    held_out = [collator([encode(c, tokenizer, 64) for c in counting(64, seed=2)[i : i + 16]]) for i in (0, 16, 32, 48)]

    torch.manual_seed(0)
    teacher = AutoModelForCausalLM.from_pretrained(builtin_path("tiny-teacher", data_dir))
    quiet(
        Trainer(
            model=teacher,
            args=arguments(work / "teacher", args.teacher_steps, args.lr),
            train_dataset=train,
            data_collator=collator,
        )
    ).train()
    teacher.eval()

    rows, step_seconds = [], {}
    for method in ("taid", *LOSS_NAMES, "sft"):
        torch.manual_seed(0)
        student = AutoModelForCausalLM.from_pretrained(builtin_path("tiny-chat", data_dir))
        training = arguments(work / method, args.steps, args.lr)
        if method == "sft":
            trainer = quiet(Trainer(model=student, args=training, train_dataset=train, data_collator=collator))
        else:
            schedule = TAIDSchedule(args.steps) if method == "taid" else None
            trainer = quiet(
                DistillationTrainer(
                    model=student,
                    args=training,
                    train_dataset=train,
                    teacher=teacher,
                    method=method,
                    schedule=schedule,
                    vocab_size=len(tokenizer),
                    data_collator=collator,
                )
            )
        started = time.perf_counter()
        trainer.train()
        step_seconds[method] = (time.perf_counter() - started) / args.steps
        student.eval()
        left_ramp = schedule is not None and schedule.t > schedule.linear(schedule.step) + 1e-9
        rows.append(
            {
                "method": method,
                "held_out_kl_to_teacher": round(held_out_kl(student, teacher, held_out, len(tokenizer)), 4),
                "held_out_ce": round(held_out_ce(student, held_out), 4),
                "step_ms": round(1000 * step_seconds[method], 2),
                "taid_alpha_left_ramp": f"5e-4, {'yes' if left_ramp else 'no'}" if method == "taid" else "",
            }
        )
    figures = {
        "teacher_held_out_ce": round(held_out_ce(teacher, held_out), 4),
        "taid_vs_kl_step_time_ratio": round(step_seconds["taid"] / step_seconds["kl"], 3),
        "rows": rows,
    }
    if args.json:
        print(json.dumps(figures))
        return
    print(
        f"teacher held-out CE {figures['teacher_held_out_ce']}; TAID/KL step time "
        f"{figures['taid_vs_kl_step_time_ratio']}× (target ≤ 1.1×)"
    )
    print(f"{'method':<10} {'KL→teacher':>11} {'CE':>8} {'ms/step':>8}  TAID α, left ramp")
    for row in rows:
        print(
            f"{row['method']:<10} {row['held_out_kl_to_teacher']:>11} {row['held_out_ce']:>8} {row['step_ms']:>8}  "
            f"{row['taid_alpha_left_ramp']}"
        )


if __name__ == "__main__":
    main()
