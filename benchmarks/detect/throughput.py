"""Detector throughput: tokens/s scored in batches vs one text at a time, per detector, same models and run.

.venv/bin/python benchmarks/detect/throughput.py [--model smollm2-135m] [--texts 32] [--json]
"""

from __future__ import annotations

import argparse
import json
import time

from headwater.detect import Binoculars, FastDetectGPT
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


def tokens_per_second(detector, batch: list[str], one_at_a_time: bool, tokens: int) -> float:  # noqa: ANN001
    started = time.perf_counter()
    if one_at_a_time:
        for text in batch:
            detector.score([text])
    else:
        detector.score(batch)
    return tokens / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--texts", type=int, default=32)
    parser.add_argument("--data-dir", default=".headwater")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
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
    figures = {"model": args.model, "texts": args.texts, "tokens": tokens, "detectors": rows}
    if args.json:
        print(json.dumps(figures))
        return
    print(f"{args.model}, {args.texts} texts, {tokens} tokens (the same model on both sides)")
    for name, row in rows.items():
        print(
            f"  {name:<15} one at a time {row['one_at_a_time_tok_s']:>8} tok/s   batched "
            f"{row['batched_tok_s']:>8} tok/s   ratio {row['ratio']}×"
        )


if __name__ == "__main__":
    main()
