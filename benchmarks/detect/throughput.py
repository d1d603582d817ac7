"""Detector throughput: tokens/s scored in batches vs one text at a time, per detector, same models and run.

.venv/bin/python benchmarks/detect/throughput.py [--model smollm2-135m] [--texts 32] [--json] [--clues-only]

The clue detector (no LM) is timed in texts/s on the same texts; its model is fit on those texts with alternating
labels, which is meaningless as a detector but costs the same to run.
"""

from __future__ import annotations

import argparse
import json
import time

from headwater.detect import Binoculars, ClueDetector, FastDetectGPT
from headwater.models.loading import load_model, load_tokenizer

SENTENCES = [
    "The river rose after three days of rain.",
    "The village moved its boats to higher ground.",
    "Nobody remembered a flood like it.",
    "By Sunday the water had gone down again.",
    "The mud stayed in the square for weeks.",
]


def texts(count: int) -> list[str]:
    return [" ".join(SENTENCES[(i + j) % len(SENTENCES)] for j in range(3 + i % 5)) for i in range(count)]


def tokens_per_second(
    detector: Binoculars | ClueDetector | FastDetectGPT, batch: list[str], one_at_a_time: bool, tokens: int
) -> float:
    started = time.perf_counter()
    if one_at_a_time:
        for text in batch:
            detector.score([text])
    else:
        detector.score(batch)
    return tokens / (time.perf_counter() - started)


def clue_row(batch: list[str], repeats: int = 3) -> dict[str, float]:
    """Texts/s for the clue detector, one call per text vs one call for all (best of `repeats`)."""
    detector = ClueDetector(min_words=1).fit(batch, ["ai", "human"] * (len(batch) // 2) + ["ai"] * (len(batch) % 2))
    single = batched = 0.0
    for _ in range(repeats):
        started = time.perf_counter()
        for text in batch:
            detector.score([text])
        single = max(single, len(batch) / (time.perf_counter() - started))
        started = time.perf_counter()
        detector.score(batch)
        batched = max(batched, len(batch) / (time.perf_counter() - started))
    return {
        "one_at_a_time_texts_s": round(single, 1),
        "batched_texts_s": round(batched, 1),
        "ratio": round(batched / single, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--texts", type=int, default=32)
    parser.add_argument("--data-dir", default=".headwater")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--clues-only", action="store_true", help="Skip the LM detectors (no model needed).")
    args = parser.parse_args()
    if args.clues_only:
        figures = {"texts": args.texts, "clues": clue_row(texts(args.texts))}
        print(json.dumps(figures) if args.json else f"clues, {args.texts} texts: {figures['clues']}")
        return
    tokenizer = load_tokenizer(args.model, data_dir=args.data_dir)
    model = load_model(args.model, data_dir=args.data_dir)
    batch = texts(args.texts)
    tokens = sum(len(tokenizer(text)["input_ids"]) for text in batch)
    rows = {}
    for name, detector in (
        ("binoculars", Binoculars(model, model, tokenizer, batch_size=args.texts)),
        ("fast-detectgpt", FastDetectGPT(model, model, tokenizer, batch_size=args.texts)),
    ):
        detector.score(batch[:2])  # warm-up
        single = tokens_per_second(detector, batch, True, tokens)
        batched = tokens_per_second(detector, batch, False, tokens)
        rows[name] = {
            "one_at_a_time_tok_s": round(single, 1),
            "batched_tok_s": round(batched, 1),
            "ratio": round(batched / single, 2),
        }
    figures = {"model": args.model, "texts": args.texts, "tokens": tokens, "detectors": rows, "clues": clue_row(batch)}
    if args.json:
        print(json.dumps(figures))
        return
    print(f"{args.model}, {args.texts} texts, {tokens} tokens (the same model on both sides)")
    for name, row in rows.items():
        print(
            f"  {name:<15} one at a time {row['one_at_a_time_tok_s']:>8} tok/s   batched "
            f"{row['batched_tok_s']:>8} tok/s   ratio {row['ratio']}×"
        )
    clues = figures["clues"]
    print(
        f"  {'clues':<15} one at a time {clues['one_at_a_time_texts_s']:>8} text/s  batched "
        f"{clues['batched_texts_s']:>8} text/s  ratio {clues['ratio']}×"
    )


if __name__ == "__main__":
    main()
