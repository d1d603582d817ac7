"""Fakes for the ASTRAL tests: Generators driven by a function of the prompt, which count their calls."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from headwater.models.generator import Generation, GenerationParams, Prompt

Reply = Callable[[str], "str | Generation"]


def prompt_text(prompt: Prompt) -> str:
    return prompt if isinstance(prompt, str) else "\n".join(message["content"] for message in prompt)


class FunctionGenerator:
    """Answers each prompt with `reply(text)` (a string, a Generation, or an exception it raises); counts calls
    per prompt text and batches seen."""

    def __init__(self, reply: Reply, name: str = "fake") -> None:
        self.reply = reply
        self.name = name
        self.calls: Counter[str] = Counter()
        self.batches: list[int] = []
        self.params: list[GenerationParams | None] = []

    def generate(self, prompts: Sequence[Prompt], params: GenerationParams | None = None) -> list[Generation]:
        self.batches.append(len(prompts))
        self.params.append(params)
        results = []
        for prompt in prompts:
            text = prompt_text(prompt)
            self.calls[text] += 1
            answer = self.reply(text)
            results.append(answer if isinstance(answer, Generation) else Generation(answer, "stop", 1, 1))
        return results

    @property
    def total_calls(self) -> int:
        return sum(self.calls.values())


@pytest.fixture
def function_generator() -> type[FunctionGenerator]:
    return FunctionGenerator


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    import json

    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def make_tests(count: int, category: str = "animal_abuse") -> list[dict]:
    """Planned tests with benign placeholder prompts (`placeholder test N`)."""
    styles = ["slang", "question", "role_play"]
    return [
        {
            "id": f"t{i:03d}",
            "category": category,
            "style": styles[i % 3],
            "technique": "logical_appeal",
            "prompt": f"placeholder test {i}",
        }
        for i in range(count)
    ]
