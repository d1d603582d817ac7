"""Moderate fine-tuning uploads with a guard, then test how well that moderation holds against Virus, in seconds on
a CPU. Everything is synthetic and harmless: the guard is a tiny model trained here to flag a made-up marker word.

.venv/bin/python examples/guard_tiny.py

Virus is for testing moderation you operate (arXiv 2501.17433); the platform exposes it to admins alone.
"""

from __future__ import annotations

import copy

import torch

from headwater.safety.guard import PerplexityFilter, SegmentGuard, check_examples
from headwater.safety.virus import MARKER, VirusConfig, attack, marker_pairs, marker_setup, prepare_victim

torch.set_num_threads(1)
guard, victim, tokenizer = marker_setup(seed=0)  # guard answers "unsafe" when the marker word is in an answer
pairs = marker_pairs(3, seed=0)  # a benign sample and a "harmful" text about the marker, per pair

# 1. Plain moderation: a benign upload passes, the harmful text appended to it (Mixing) is caught.
uploads = [
    (1, [{"role": "user", "content": pairs[0].instruction}, {"role": "assistant", "content": pairs[0].response}])
]
uploads += [
    (n + 2, [{"role": "user", "content": p.instruction}, {"role": "assistant", "content": f"{p.response} {p.harmful}"}])
    for n, p in enumerate(pairs)
]
report = check_examples(uploads, guard)
print(f"marker word: {MARKER!r}")
print(f"plain uploads: {report.flagged}/{report.total} flagged", [item.verdict for item in report.items])

# 2. Virus: optimise the harmful sample (its question and answer, in the victim's chat template) to pass the guard
# while keeping its gradient on the victim (taken over a LoRA of rank 32, α = 4 on q/k/v, as the official code).
config = VirusConfig(steps=5, swaps=32)
reports = attack(guard, prepare_victim(copy.deepcopy(victim), config), tokenizer, pairs, config)
for r in reports:
    print(
        f"passes guard {r.passes_guard}  F_guard {r.f_guards[0]:.2f} -> {r.f_guard:.2f}  cos {r.cosine:.3f}  "
        f"{r.block!r}"
    )
poisoned = [(n + 1, r.messages) for n, r in enumerate(reports)]
print(f"leakage ratio: {sum(r.passes_guard for r in reports) / len(reports):.2f}")

# 3. Defences on the same uploads, and what they cost on benign data.
scorer = PerplexityFilter(victim, tokenizer, window=4)
benign = [
    [{"role": "user", "content": p.instruction}, {"role": "assistant", "content": p.response}]
    for p in marker_pairs(12, 9)
]
scorer.calibrate(benign, fpr=0.0)
for name, defence in (("segments", SegmentGuard(guard, max_chars=24)), ("perplexity", scorer)):
    caught = check_examples(poisoned, defence).flagged
    false_positives = check_examples(list(enumerate(benign, 1)), defence).flagged
    print(f"{name}: {caught}/{len(poisoned)} poisoned caught, {false_positives}/{len(benign)} benign rejected")
