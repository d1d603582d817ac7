"""Context caching by id: TTFT of a chat request over a long cached context (`context_id`) vs the same request
with a context of the same length that nothing cached (a fresh one each time). Same server, same run.

    .venv/bin/python benchmarks/serving/contexts.py [--model tiny-chat] [--words 170] [--requests 8] [--json]

Prints the median TTFT of each and the ratio uncached / cached, and the cached tokens the responses report.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time

import httpx

from headwater.platform.launch import launch_server
from headwater.platform.loadgen import LoadConfig, make_prompts


def _ttft(client: httpx.Client, model: str, messages: list[dict], **extra: object) -> tuple[float, int]:
    """Seconds to the first content chunk, and the cached prompt tokens of the final usage."""
    body = {"model": model, "messages": messages, "max_tokens": 4, "temperature": 0, "stream": True, **extra}
    body["stream_options"] = {"include_usage": True}
    started, first, cached = time.perf_counter(), None, 0
    with client.stream("POST", "/chat/completions", json=body) as response:
        response.raise_for_status()
        for line in response.iter_lines():
            if not line.startswith("data: {"):
                continue
            chunk = json.loads(line.removeprefix("data: "))
            if first is None and chunk.get("choices") and chunk["choices"][0]["delta"].get("content"):
                first = time.perf_counter() - started
            if chunk.get("usage"):
                cached = chunk["usage"]["prompt_tokens_details"]["cached_tokens"]
    return (first if first is not None else time.perf_counter() - started), cached


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="tiny-chat")
    parser.add_argument("--words", type=int, default=170, help="Words in the context (tiny-chat: ≈ 4.5 tokens each).")
    parser.add_argument("--requests", type=int, default=8)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    texts = [
        p.text
        for p in make_prompts(
            LoadConfig("", "", dataset="shared-prefix", num_prompts=args.requests + 1, prefix_groups=args.requests + 1,
                       max_prompt_words=args.words)
        )
    ]  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="headwater-contexts-") as folder:
        server = launch_server(args.model, folder, env={"HEADWATER_POOL_SIZE": "0"})
        try:
            with httpx.Client(base_url=server.base_url, timeout=120) as client:
                model = client.get("/models").json()["data"][0]["id"]
                system = {"role": "system", "content": texts[0]}
                created = client.post("/contexts", json={"model": model, "messages": [system]}).json()
                cached, uncached, reused = [], [], []
                for i in range(args.requests):
                    question = [{"role": "user", "content": f"Question {i}: what does it say?"}]
                    seconds, tokens = _ttft(client, model, question, context_id=created["id"])
                    cached.append(seconds)
                    reused.append(tokens)
                    fresh = [{"role": "system", "content": texts[i + 1]}, *question]
                    uncached.append(_ttft(client, model, fresh)[0])
        finally:
            server.stop()
    result = {
        "context_tokens": created["tokens"],
        "ttft_cached_s": statistics.median(cached),
        "ttft_uncached_s": statistics.median(uncached),
        "cached_tokens": statistics.median(reused),
    }
    result["ratio"] = result["ttft_uncached_s"] / result["ttft_cached_s"]
    if args.json:
        print(json.dumps(result))
        return
    print(
        f"context of {result['context_tokens']} tokens: TTFT p50 {result['ttft_cached_s'] * 1000:.0f} ms with "
        f"context_id ({result['cached_tokens']:.0f} tokens reused) vs {result['ttft_uncached_s'] * 1000:.0f} ms "
        f"without: {result['ratio']:.2f}x"
    )


if __name__ == "__main__":
    main()
