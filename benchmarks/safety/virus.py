"""Virus on the synthetic tiny pair: optimisation steps/s (paper settings: top-64, 128 swaps; the official code's
victim LoRA and block: r = 32, α = 4 on q/k/v, the whole templated harmful sample) against the jailbreak-only search
(λ = 1, no second-order term) in the same run, and leakage vs steps as a table.

    .venv/bin/python benchmarks/safety/virus.py [--steps 10] [--samples 4] [--table-steps 10] [--table-swaps 32]
        [--harness] [--seeds 5] [--ablation] [--json]

The pair is built in seconds on a CPU (headwater.safety.virus.synthetic): a 2-layer guard trained to flag a made-up
marker word and a 2-layer victim sharing its vocabulary. Nothing harmful is involved.
"""

from __future__ import annotations

import argparse
import copy
import json
import time

import torch

from headwater.safety.guard import EnsembleGuard, PerplexityFilter, SegmentGuard
from headwater.safety.virus import (
    QA,
    FineTuneSettings,
    HarnessConfig,
    HarnessData,
    VirusConfig,
    attack,
    evaluate,
    marker_pairs,
    marker_setup,
    prepare_victim,
    summarise,
)
from headwater.safety.virus.synthetic import benign_examples, marker_examples


def steps_per_second(guard, victim, tokenizer, pairs, lam: float, steps: int) -> float:
    config = VirusConfig(lam=lam, steps=steps)  # paper settings: top-64, 128 swaps
    started = time.perf_counter()
    attack(guard, victim, tokenizer, pairs[:1], config)
    return steps / (time.perf_counter() - started)


def leakage_table(guard, victim, tokenizer, pairs, steps: int, swaps: int) -> dict[str, list[dict[str, float]]]:
    table = {}
    for name, lam in (("virus", 0.1), ("lambda1", 1.0)):
        config = VirusConfig(lam=lam, steps=steps, swaps=swaps, leakage_every=1)
        reports = attack(guard, victim, tokenizer, pairs, config)
        table[name] = [
            {
                "step": step,
                "leakage": sum(r.leakage[step] for r in reports) / len(reports),
                "f_guard": sum(r.f_guards[step] for r in reports) / len(reports),
                "cosine": sum(r.cosines[step] for r in reports) / len(reports),
            }
            for step in range(steps + 1)
        ]
    return table


def ablation(guard, victim, tokenizer, pairs, steps: int, swaps: int) -> list[dict[str, float]]:
    """The paper's λ ablation: end-of-search leakage, F_guard and cosine per λ."""
    rows = []
    for lam in (0.0, 0.01, 0.05, 0.1, 1.0):
        reports = attack(guard, victim, tokenizer, pairs, VirusConfig(lam=lam, steps=steps, swaps=swaps))
        count = len(reports)
        rows.append(
            {
                "lambda": lam,
                "leakage": sum(r.passes_guard for r in reports) / count,
                "f_guard": sum(r.f_guard for r in reports) / count,
                "cosine": sum(r.cosine for r in reports) / count,
            }
        )
    return rows


def harness(guard, victim, tokenizer, pairs, steps: int, swaps: int, seeds: int) -> list[dict]:
    data = HarnessData(
        pairs,
        [QA(e.prompt, e.completion) for e in marker_examples(8)],
        [QA(e.prompt, e.completion) for e in benign_examples(24, seed=5)],
        [QA(e.prompt, e.completion) for e in benign_examples(12, seed=50, held_out=True)],
        [e.prompt for e in marker_examples(6, seed=77)],
    )
    config = HarnessConfig(
        seeds=tuple(range(seeds)), virus=VirusConfig(steps=steps, swaps=swaps), fine_tune=FineTuneSettings(steps=40)
    )
    scorer = PerplexityFilter(victim, tokenizer, window=4)
    scorer.calibrate([qa.conversation() for qa in data.benign_train], fpr=0.05)
    moderations = {
        "guard": guard,
        "guard+segments": SegmentGuard(guard, max_chars=24),
        "guard+perplexity": EnsembleGuard([guard, scorer]),
    }
    return summarise(evaluate(guard, victim, tokenizer, data, moderations, guard, config))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=10, help="steps timed per objective")
    parser.add_argument("--samples", type=int, default=4, help="pairs in the leakage table and harness")
    parser.add_argument("--table-steps", type=int, default=10)
    parser.add_argument("--table-swaps", type=int, default=32)
    parser.add_argument("--harness", action="store_true", help="also run the harness")
    parser.add_argument("--seeds", type=int, default=5, help="harness seeds (attack LoRA init, swaps, fine-tune)")
    parser.add_argument("--ablation", action="store_true", help="also run the λ ablation")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    guard, base, tokenizer = marker_setup(seed=0)
    victim = prepare_victim(copy.deepcopy(base), VirusConfig())  # the official LoRA: r = 32, α = 4 on q/k/v
    pairs = marker_pairs(args.samples, seed=0)
    virus = steps_per_second(guard, victim, tokenizer, pairs, 0.1, args.steps)
    jailbreak = steps_per_second(guard, victim, tokenizer, pairs, 1.0, args.steps)
    figures = {
        "device": "cuda" if torch.cuda.is_available() else f"cpu ({args.threads} thread)",
        "virus_steps_per_s": round(virus, 3),
        "lambda1_steps_per_s": round(jailbreak, 3),
        "ratio": round(virus / jailbreak, 3),
        "leakage_vs_steps": leakage_table(guard, victim, tokenizer, pairs, args.table_steps, args.table_swaps),
    }
    if args.ablation:
        figures["ablation"] = ablation(guard, victim, tokenizer, pairs, args.table_steps, args.table_swaps)
    if args.harness:
        figures["harness"] = harness(guard, base, tokenizer, pairs, args.table_steps, args.table_swaps, args.seeds)
    if args.json:
        print(json.dumps(figures))
        return
    print(f"device {figures['device']}; top-64, 128 swaps per step")
    print(
        f"virus (λ=0.1) {virus:.3f} steps/s; jailbreak only (λ=1) {jailbreak:.3f} steps/s; "
        f"ratio {virus / jailbreak:.3f}"
    )
    print(f"\nleakage vs steps ({args.samples} samples, top-64, {args.table_swaps} swaps)")
    print(f"{'step':>4}  {'virus leak':>10} {'F_guard':>8} {'cos':>6}  {'λ=1 leak':>8} {'F_guard':>8} {'cos':>6}")
    for v, j in zip(figures["leakage_vs_steps"]["virus"], figures["leakage_vs_steps"]["lambda1"], strict=True):
        print(
            f"{v['step']:>4}  {v['leakage']:>10.2f} {v['f_guard']:>8.3f} {v['cosine']:>6.3f}  "
            f"{j['leakage']:>8.2f} {j['f_guard']:>8.3f} {j['cosine']:>6.3f}"
        )
    if args.ablation:
        print(f"\nλ ablation after {args.table_steps} steps")
        print(f"{'λ':>5} {'leak':>5} {'F_guard':>8} {'cos':>6}")
        for row in figures["ablation"]:
            print(f"{row['lambda']:>5} {row['leakage']:>5.2f} {row['f_guard']:>8.3f} {row['cosine']:>6.3f}")
    if args.harness:
        print(f"\nharness (mean ± std of {args.seeds} seeds)")
        print(f"{'variant':<8} {'moderation':<16} {'leak':>5} {'FPR':>5} {'loss':>14} {'HS':>5} {'FA':>5}")
        for row in figures["harness"]:
            print(
                f"{row['variant']:<8} {row['moderation']:<16} {row['leakage']:>5.2f} "
                f"{row['benign_false_positive_rate']:>5.2f} {row['target_loss']:>6.3f} ± "
                f"{row['target_loss_std']:<5.3f} {row['harmful_score']:>5.2f} {row['accuracy']:>5.2f}"
            )


if __name__ == "__main__":
    main()
