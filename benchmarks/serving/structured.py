"""Structured outputs: what a JSON-schema request costs when it shares a batch with free requests.
Same model, same prompts, same run, in-process (no HTTP).

    .venv/bin/python benchmarks/serving/structured.py [--model smollm2-135m] [--streams 32] [--max-tokens 64]

1. In one batch where every other request is constrained to a JSON schema: decode tokens/s of the constrained
   requests against the free ones (after each request's first token, so that prefill, which JSON documents that
   end early amortise over fewer tokens, does not count; target ≥ 0.8×), and whether every constrained output
   that finished with "stop" parses.
2. The whole batch's tokens/s against an all-free batch that generates exactly as many tokens per row (each free
   request's max_tokens set to the length its row had in the mixed batch), so the ratio is the masks' cost and
   not the early ends of finished JSON documents.
"""

from __future__ import annotations

import argparse
import json
import os
import time

from headwater.engine.grammar import json_schema_grammar
from headwater.engine.protocol import EngineRequest, SamplingParams
from headwater.engine.transformers_engine import EngineConfig, TransformersEngine
from headwater.models.loading import load_model, load_tokenizer

SCHEMA = {
    "type": "object",
    "properties": {
        "topic": {"type": "string", "maxLength": 40},
        "facts": {"type": "array", "items": {"type": "string"}},
    },
    "required": ["topic", "facts"],
    "additionalProperties": False,
}


Row = tuple[list[int], str, float, float]
"""A request's tokens, finish reason, and seconds from the batch's start to its first token and to its end."""


def run_batch(engine: TransformersEngine, requests: list[EngineRequest]) -> dict[str, Row]:
    tokens: dict[str, list[int]] = {request.request_id: [] for request in requests}
    first: dict[str, float] = {}
    done: dict[str, Row] = {}
    started = time.perf_counter()
    for request in requests:
        engine.add_request(request)
    while len(done) < len(requests):
        for output in engine.get_outputs(0.5):
            now = time.perf_counter() - started
            rid = output.request_id
            tokens[rid] += output.token_ids
            first.setdefault(rid, now)
            if output.finish_reason:
                done[rid] = (tokens[rid], output.finish_reason, first[rid], now)
    return done


def _decode_rate(rows: list[Row]) -> float:
    return sum(len(tokens) - 1 for tokens, *_ in rows) / sum(end - first for _, _, first, end in rows)


def _batch_rate(done: dict[str, Row]) -> float:
    return sum(len(tokens) for tokens, *_ in done.values()) / max(end for *_, end in done.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--streams", type=int, default=32)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    data_dir = os.environ.get("HEADWATER_DATA_DIR", ".headwater")
    model, tokenizer = load_model(args.model, data_dir=data_dir), load_tokenizer(args.model, data_dir=data_dir)
    engine = TransformersEngine(model, [tokenizer.eos_token_id], EngineConfig(), tokenizer)
    engine.start()
    prompts = [
        tokenizer.apply_chat_template(
            [{"role": "user", "content": f"Give facts about topic number {i} as JSON."}], add_generation_prompt=True
        )["input_ids"]
        for i in range(args.streams)
    ]
    free = SamplingParams(max_tokens=args.max_tokens, temperature=0)
    constrained = SamplingParams(max_tokens=args.max_tokens, temperature=0, grammar=json_schema_grammar(SCHEMA))
    run_batch(engine, [EngineRequest("warm", prompts[0], free)])
    mixed = run_batch(
        engine, [EngineRequest(f"m{i}", p, constrained if i % 2 else free) for i, p in enumerate(prompts)]
    )
    lengths = [max(1, len(mixed[f"m{i}"][0])) for i in range(len(prompts))]
    all_free = run_batch(
        engine,
        [
            EngineRequest(f"f{i}", p, SamplingParams(max_tokens=n, temperature=0))
            for i, (p, n) in enumerate(zip(prompts, lengths, strict=True))
        ],
    )
    engine.shutdown()
    json_rows = [mixed[f"m{i}"] for i in range(1, len(prompts), 2)]
    free_rows = [mixed[f"m{i}"] for i in range(0, len(prompts), 2)]
    finished = [tokens for tokens, reason, *_ in json_rows if reason == "stop"]
    parsed = sum(isinstance(json.loads(tokenizer.decode(t, skip_special_tokens=True)), dict) for t in finished)
    report = {
        "model": args.model,
        "streams": args.streams,
        "json_request_tokens_per_s": _decode_rate(json_rows),
        "free_request_tokens_per_s": _decode_rate(free_rows),
        "json_over_free_per_request": _decode_rate(json_rows) / _decode_rate(free_rows),
        "mixed_batch_tokens_per_s": _batch_rate(mixed),
        "all_free_batch_tokens_per_s": _batch_rate(all_free),
        "mixed_over_free_batch": _batch_rate(mixed) / _batch_rate(all_free),
        "json_finished": len(finished),
        "json_parsed": parsed,
        "same_tokens_per_row": [len(all_free[f"f{i}"][0]) for i in range(len(prompts))] == lengths,
    }
    if args.json:
        print(json.dumps(report))
        return
    print(
        f"decode per request, same batch: json_schema {report['json_request_tokens_per_s']:.2f} tokens/s, "
        f"free {report['free_request_tokens_per_s']:.2f} tokens/s: "
        f"{report['json_over_free_per_request']:.2f}x (target >= 0.8x)"
    )
    print(
        f"whole batch: mixed {report['mixed_batch_tokens_per_s']:.1f} tokens/s, all free with the same lengths "
        f"{report['all_free_batch_tokens_per_s']:.1f} tokens/s: {report['mixed_over_free_batch']:.2f}x"
    )
    print(
        f"json outputs finished with stop: {len(finished)}/{len(json_rows)}, all parsed: {parsed == len(finished)}; "
        f"same tokens per row in both batches: {report['same_tokens_per_row']}"
    )


if __name__ == "__main__":
    main()
