"""Critique fine-tuning vs SFT on arithmetic word problems, offline and verifiable.

Problems are generated in code; half of the candidate answers are corrupted; a rule-based critic (a `Generator`
that recomputes the answer) writes the critiques; the same base model is fine-tuned with CFT (on critiques) and
with SFT (on correct answers) with the same budget; both are evaluated by answering held-out problems directly
(greedy), as the paper evaluates.

    .venv/bin/python examples/cft_arithmetic.py [--model smollm2-135m] [--steps 60] [--problems 200] [--json]
"""

from __future__ import annotations

import argparse
import json
import random
import re
import tempfile
from pathlib import Path

from headwater.models.generator import Generation, GenerationParams
from headwater.models.hf_generator import HFGenerator
from headwater.train.cft import cft_row, final_answer, same_answer, sft_row
from headwater.train.critique_data import build_critique_data
from headwater.train.sft import FineTuneConfig, fine_tune

TEMPLATES = [
    ("{name} has {a} apples and buys {b} more. How many apples does {name} have now?", lambda a, b: a + b),
    ("A box holds {a} pens. {b} are taken out. How many pens are left?", lambda a, b: a - b),
    ("{name} reads {a} pages a day for {b} days. How many pages is that?", lambda a, b: a * b),
]
NAMES = ["Ada", "Ben", "Chloe", "Dev", "Eli", "Fay"]


def problems(count: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    rows = []
    for _ in range(count):
        index = rng.randrange(len(TEMPLATES))
        template, solve = TEMPLATES[index]
        a, b = rng.randint(2, 30), rng.randint(2, 12)
        a = max(a, b + 1) if index == 1 else a
        question = template.format(name=rng.choice(NAMES), a=a, b=b)
        rows.append({"question": question, "answer": str(solve(a, b)), "kind": index, "a": a, "b": b})
    return rows


def noisy_response(problem: dict, rng: random.Random) -> tuple[str, bool]:
    truth = int(problem["answer"])
    correct = rng.random() < 0.5
    given = truth if correct else truth + rng.choice([-3, -2, -1, 1, 2, 3, 10])
    symbol = "+-*"[problem["kind"]]
    return f"{problem['a']} {symbol} {problem['b']} = {given}. The answer is {given}.", correct


class RuleCritic:
    """A teacher that recomputes the arithmetic from the question and judges the solution's final number."""

    name = "rule-critic"

    def generate(self, prompts, params: GenerationParams | None = None) -> list[Generation]:
        results = []
        for prompt in prompts:
            text = prompt[-1]["content"]
            question = text.split("Question:\n", 1)[1].split("\n\nSolution:", 1)[0]
            solution = text.split("Solution:\n", 1)[1]
            a, b = (int(x) for x in re.findall(r"\d+", question)[:2])
            truth = a + b if "more" in question else a - b if "left" in question else a * b
            given = final_answer(solution)
            verdict = "right" if same_answer(given, str(truth)) else "wrong"
            critique = (
                f"The question needs {a} and {b} combined: the result is {truth}. The solution gives {given}. "
                f"Conclusion: {verdict} [END]"
            )
            results.append(Generation(critique, "stop", 0, 0))
        return results


def accuracy(model_path: str, tests: list[dict], data_dir: str) -> float:
    generator = HFGenerator.from_pretrained(model_path, data_dir=data_dir, batch_size=16)
    outputs = generator.generate(
        [[{"role": "user", "content": t["question"]}] for t in tests], GenerationParams(max_tokens=24, temperature=0)
    )
    return sum(same_answer(final_answer(o.text), t["answer"]) for o, t in zip(outputs, tests, strict=True)) / len(tests)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="tiny-chat")
    parser.add_argument("--problems", type=int, default=200)
    parser.add_argument("--tests", type=int, default=60)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--lr", type=float, default=2e-5)
    parser.add_argument("--data-dir", default=".headwater")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rng = random.Random(0)
    train, tests = problems(args.problems, seed=1), problems(args.tests, seed=2)
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        candidates = work / "candidates.jsonl"
        with candidates.open("w") as handle:
            for problem in train:
                response, correct = noisy_response(problem, rng)
                handle.write(
                    json.dumps(
                        {
                            "question": problem["question"],
                            "response": response,
                            "reference": problem["answer"],
                            "response_correct": correct,
                        }
                    )
                    + "\n"
                )
        report = build_critique_data(candidates, work / "critiques.jsonl", RuleCritic(), check_reference=True)
        critiques = [json.loads(line) for line in (work / "critiques.jsonl").read_text().splitlines()]
        config = FineTuneConfig(max_steps=args.steps, learning_rate=args.lr, batch_size=8, max_length=256)
        cft_model = fine_tune(
            args.model,
            [cft_row(c["question"], c["response"], c["critique"]) for c in critiques],
            work / "cft",
            config,
            args.data_dir,
        ).model
        sft_model = fine_tune(
            args.model,
            [sft_row(p["question"], f"The answer is {p['answer']}.") for p in train],
            work / "sft",
            config,
            args.data_dir,
        ).model
        result = {
            "model": args.model,
            "steps": args.steps,
            "critiques": report.written,
            "base_accuracy": accuracy(args.model, tests, args.data_dir),
            "sft_accuracy": accuracy(str(sft_model), tests, args.data_dir),
            "cft_accuracy": accuracy(str(cft_model), tests, args.data_dir),
        }
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{args.model}, {args.steps} steps, {report.written} critiques, {args.tests} held-out problems:")
        for name in ("base", "sft", "cft"):
            print(f"  {name:<4} direct-answer accuracy {result[f'{name}_accuracy']:.1%}")


if __name__ == "__main__":
    main()
