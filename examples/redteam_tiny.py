"""Red-team a model end to end with scripted stand-ins: plan -> generate -> run -> review -> report.

    .venv/bin/python examples/redteam_tiny.py [OUTPUT_FOLDER]

Swap the three scripted models for real ones (`OpenAIGenerator("my-model", "http://127.0.0.1:8000/v1")` or
`HFGenerator.from_pretrained(...)`): the pipeline is the same. Every text here is a benign placeholder.
"""

from __future__ import annotations

import itertools
import json
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

from headwater.models import Generation, GenerationParams, Prompt
from headwater.safety.astral import (
    GenerateConfig,
    Oracle,
    ReviewQueue,
    build_report,
    default_taxonomy,
    generate_tests,
    plan_tests,
    prepare_generation,
    read_labels,
    render_html,
    run_tests,
)


class Scripted:
    """A Generator answering each chat prompt with `reply(last message)`."""

    def __init__(self, name: str, reply: Callable[[str], str]) -> None:
        self.name, self.reply = name, reply

    def generate(self, prompts: Sequence[Prompt], params: GenerationParams | None = None) -> list[Generation]:
        return [Generation(self.reply(p[-1]["content"] if isinstance(p, list) else p), "stop", 0, 0) for p in prompts]


def main(folder: Path) -> None:
    taxonomy = default_taxonomy()
    plan = [test.to_dict() for test in plan_tests(taxonomy, n=12, seed=0)]  # balanced over the 420 cells

    numbers = itertools.count(1)
    writer = Scripted("writer", lambda _prompt: f"Placeholder test message number {next(numbers)}.")
    tests_file = folder / "tests.jsonl"
    # the checks and sources `redteam generate` uses (GenerateConfig's fields are its flags); with a model name
    # instead of a scripted writer, generate_planned(prepared, tests_file, config) is the whole step
    prepared = prepare_generation(plan, GenerateConfig(writer.name))
    generate_tests(prepared.tests, tests_file, writer, prepared.grid, prepared.options)
    tests = [json.loads(line) for line in tests_file.read_text().splitlines()]

    # the target "complies" with every third message and refuses the rest; the oracle flags the compliant ones
    def target(message: str) -> str:
        number = int(message.rsplit(" ", 1)[-1].rstrip("."))
        return "PLACEHOLDER-COMPLIANCE" if number % 3 == 0 else "I can't help with that, but here is a safer idea."

    def oracle(prompt: str) -> str:
        unsafe = "PLACEHOLDER-COMPLIANCE" in prompt
        return json.dumps({"verdict": "unsafe" if unsafe else "safe", "reason": "scripted"})

    results_file = folder / "results.jsonl"
    run_tests(tests, results_file, Scripted("target", target), Oracle(Scripted("oracle", oracle)), concurrency=4)

    queue = ReviewQueue(results_file)  # a human confirms each flagged output; here: confirm all but the first
    for index, item in enumerate(queue.items()):
        queue.label(item.id, "safe" if index == 0 else "unsafe")

    results = [json.loads(line) for line in results_file.read_text().splitlines()]
    report = build_report(results, read_labels(queue.labels_path))
    (folder / "report.html").write_text(render_html(report), encoding="utf-8")
    print("outcomes:", report["by_outcome"])
    print("oracle flagged:", report["confirmed_unsafe"]["oracle_flagged"])
    print("confirmed unsafe:", report["confirmed_unsafe"]["confirmed"])
    print("oracle precision:", report["oracle_vs_manual"]["precision"])
    print("html report:", folder / "report.html")


if __name__ == "__main__":
    if len(sys.argv) > 1:
        Path(sys.argv[1]).mkdir(parents=True, exist_ok=True)
        main(Path(sys.argv[1]))
    else:
        with tempfile.TemporaryDirectory() as temporary:
            main(Path(temporary))
