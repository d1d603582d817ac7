"""Distil tiny-teacher into tiny-chat with TAID from Python, in seconds on a CPU.

.venv/bin/python examples/distill_tiny.py [DATA_DIR]
"""

from __future__ import annotations

import functools
import sys

from transformers import TrainingArguments

from headwater.models import load_model, load_tokenizer
from headwater.train import DistillationTrainer, TAIDSchedule, check_compatible, held_out_kl
from headwater.train.data import Conversation, collate, encode

data_dir = sys.argv[1] if len(sys.argv) > 1 else ".headwater"
tokenizer = load_tokenizer("tiny-chat", data_dir=data_dir)
teacher, student = load_model("tiny-teacher", data_dir=data_dir), load_model("tiny-chat", data_dir=data_dir)
width = check_compatible(student, teacher, tokenizer)

chats = [
    Conversation([{"role": "user", "content": f"count from {n}"}], " ".join(str(n + i) for i in range(1, 6)))
    for n in range(48)
]
examples = [encode(chat, tokenizer, max_length=64) for chat in chats]
collator = functools.partial(collate, pad_id=tokenizer.pad_token_id)
held_out = [collator(examples[:16])]

steps = 30
trainer = DistillationTrainer(
    model=student.train(),
    teacher=teacher,
    method="taid",
    schedule=TAIDSchedule(total_steps=steps, t_start=0.4),
    vocab_size=width,
    train_dataset=examples,
    data_collator=collator,
    args=TrainingArguments(
        output_dir=f"{data_dir}/example-distill",
        max_steps=steps,
        per_device_train_batch_size=8,
        learning_rate=2e-3,
        report_to="none",
        save_strategy="no",
        disable_tqdm=True,
        log_level="error",
        logging_steps=10,
    ),
)
before = held_out_kl(student, teacher, held_out, width)
trainer.train()
after = held_out_kl(student.eval(), teacher, held_out, width)
print(f"held-out KL to the teacher: {before:.4f} -> {after:.4f}; final t = {trainer.schedule.t:.3f}")
