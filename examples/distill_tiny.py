"""Distil tiny-teacher into tiny-chat with TAID from Python, in seconds on a CPU: one config, one call.

.venv/bin/python examples/distill_tiny.py [DATA_DIR]
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path

from headwater.models import load_model, load_tokenizer
from headwater.train import DistillConfig, check_compatible, distill, held_out_kl
from headwater.train.data import Conversation, collate, encode

data_dir = Path(sys.argv[1] if len(sys.argv) > 1 else ".headwater")
chats = [
    Conversation([{"role": "user", "content": f"count from {n}"}], " ".join(str(n + i) for i in range(1, 6)))
    for n in range(48)
]
config = DistillConfig(
    teacher="tiny-teacher", student="tiny-chat", method="taid", max_steps=30, lr=2e-3, max_length=64, data_dir=data_dir
)
result = distill(config, chats, data_dir / "example-distill")

tokenizer = load_tokenizer("tiny-chat", data_dir=data_dir)
teacher = load_model("tiny-teacher", data_dir=data_dir)
before, after = load_model("tiny-chat", data_dir=data_dir), load_model(result.model)
width = check_compatible(before, teacher, tokenizer)
held_out = [functools.partial(collate, pad_id=tokenizer.pad_token_id)([encode(c, tokenizer, 64) for c in chats[:16]])]
kl_before, kl_after = (held_out_kl(student, teacher, held_out, width) for student in (before, after))
print(f"held-out KL to the teacher: {kl_before:.4f} -> {kl_after:.4f}; final t = {result.t:.3f}")
