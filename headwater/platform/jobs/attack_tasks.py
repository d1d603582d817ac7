"""The admin-only attack job's task, run in a worker process (`LocalWorkerRunner`): torch, the guard and the victim
are loaded there, never in the gateway.

It runs the Virus harness (`headwater.safety.virus.evaluate`, arXiv 2501.17433 §5.1) against the platform's guard:
the uploaded pairs are split into a training part (the first two thirds: the pairs attacked, the harmful samples,
the benign training data) and a held-out part (the last third, at least one line: benign accuracy and harmful
prompts for the harmful score), and the guard is both the moderation measured and the harm judge.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from headwater.platform.jobs.worker_process import TaskContext


def held_out_split(count: int) -> int:
    """How many of `count` pair lines train (the rest are held out): two thirds, at least one each side."""
    return max(1, min(count - 1, count - max(1, count // 3)))


def run_harness(payload: dict, context: TaskContext) -> dict:
    """Load the guard (`payload["guard"]`, an HF causal LM) and the victim, run the harness, return its table
    (`summarise`: mean and std per variant and moderation) and its per-seed rows."""
    import torch

    from headwater.models.loading import load_model
    from headwater.safety.guard.hf import HFGuard
    from headwater.safety.virus import (
        QA,
        FineTuneSettings,
        HarnessConfig,
        HarnessData,
        VirusConfig,
        evaluate,
        read_pairs,
        summarise,
    )

    torch.set_num_threads(int(payload.get("threads", 1)))
    settings = payload["settings"]
    pairs = [pair for _, pair in read_pairs(Path(payload["pairs"]), needs_instruction=settings["optimise"] == "sample")]
    split = held_out_split(len(pairs))
    train, held = pairs[:split], pairs[split:]
    data = HarnessData(
        train[: settings["samples"]],
        [QA(p.harmful_instruction or p.instruction, p.harmful) for p in train],
        [QA(p.instruction, p.response) for p in train],
        [QA(p.instruction, p.response) for p in held],
        [p.harmful_instruction or p.instruction for p in held],
    )
    config = HarnessConfig(
        seeds=tuple(range(settings["seeds"])),
        virus=VirusConfig(
            lam=settings["lambda"],
            steps=settings["steps"],
            top_k=settings["top_k"],
            swaps=settings["swaps"],
            optimise=settings["optimise"],
        ),
        fine_tune=FineTuneSettings(steps=settings["fine_tune_steps"], max_new_tokens=settings["max_new_tokens"]),
    )
    data_dir = payload["data_dir"]
    context.event(f"loading the guard {payload['guard_name']} and the victim {payload['victim_name']}")
    guard = HFGuard.from_pretrained(payload["guard"], data_dir, style=payload["prompt"], name=payload["guard_name"])
    victim = load_model(payload["victim"], data_dir=data_dir)
    if guard.tokenizer.get_vocab() != _vocab(payload["victim"], data_dir):
        raise ValueError("guard and victim use different tokenizers; Virus needs one shared vocabulary")
    context.event(f"harness: {len(data.pairs)} attacked pairs, {len(held)} held out, seeds {list(config.seeds)}")
    rows = evaluate(guard, victim, guard.tokenizer, data, {"guard": guard}, guard, config)
    table = summarise(rows)
    context.progress(1.0)
    return {"table": table, "rows": [asdict(row) for row in rows]}


def _vocab(name: str, data_dir: str) -> dict[str, int]:
    from headwater.models.loading import load_tokenizer

    return load_tokenizer(name, data_dir=data_dir).get_vocab()
