"""Load generator for any OpenAI-compatible server, like `vllm bench serve`; the same as `headwater bench serve`.

    .venv/bin/python benchmarks/serving/bench_serve.py --model smollm2-135m --base-url http://127.0.0.1:8000/v1 \\
        --num-prompts 64 --request-rate 4 [--dataset shared-prefix] [--slo-ttft-s 1] [--json]
"""

from __future__ import annotations

import sys

from headwater.cli.bench import app

if __name__ == "__main__":
    app(["serve", *sys.argv[1:]])
