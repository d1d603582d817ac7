"""Clue detector + LLM detector + ensemble, end to end on template-made paragraphs, with no model download.

    .venv/bin/python examples/detect_ensemble.py

Each member is calibrated with `calibrate_detector`, and the clue detector is rebuilt from its saved calibration
with `load_calibrated`, the one call `headwater detect score --calibration` makes. The "LLM" here is a rule of
thumb behind the Generator interface (it counts overused words and now and then answers off-format, to show
refusals); swap in `OpenAIGenerator("my-model", "http://127.0.0.1:8000/v1")` or
`HFGenerator.from_pretrained(...)` for a real one. The paragraphs are stitched from a few sentences written for
this example, so the figures show the mechanics, not how well any detector works on real text.
"""

from __future__ import annotations

import random
import re
import tempfile
from collections.abc import Sequence
from pathlib import Path

from headwater.detect import (
    ClueDetector,
    DetectorConfig,
    LLMDetector,
    calibrate_detector,
    evaluate,
    load_calibrated,
    majority_vote,
    stack,
)
from headwater.models import Generation, GenerationParams, Prompt

AI_SENTENCES = [
    "In today's fast-paced world, local libraries play a pivotal role in fostering connection.",
    "They not only lend books but also offer vibrant spaces for learning, sharing, and growth.",
    "Moreover, their programs empower residents of all ages to navigate a changing landscape.",
    'As Dr. Emily Carter notes, "A library is a testament to what a community values."',
    "This rich tapestry of services underscores the crucial importance of public investment.",
    "Furthermore, seamless digital access enhances both reach and impact.",
    "Ultimately, the future of these institutions is bright and full of exciting possibilities.",
    "Delving deeper, we find a multifaceted story of resilience, creativity, and hope.",
]
HUMAN_SENTENCES = [
    "The library on Mill Road shut for a week because the boiler packed in again.",
    "Jan at the desk said they'd been waiting on a part since March.",
    "I only went in to return a book that was three weeks late, honestly.",
    "There's a new shelf of local history stuff by the window, mostly maps.",
    "My kid spent an hour in the comics corner and came out with nothing.",
    "Yeah, the wifi is still terrible, you get about two bars by the toilets.",
    "The fines are gone now, which I guess is nice, though nobody told us",
    "Someone had left a sandwich in the returns box, don't ask me why.",
]


def paragraph(rng: random.Random, ai: bool) -> str:
    own, other = (AI_SENTENCES, HUMAN_SENTENCES) if ai else (HUMAN_SENTENCES, AI_SENTENCES)
    sentences = rng.sample(own, 4) + ([rng.choice(other)] if rng.random() < 0.3 else [])
    rng.shuffle(sentences)
    return " ".join(sentences)


def dataset(rng: random.Random, n_ai: int, n_human: int) -> tuple[list[str], list[str]]:
    labels = ["ai"] * n_ai + ["human"] * n_human
    return [paragraph(rng, label == "ai") for label in labels], labels


class RuleOfThumb:
    """A stand-in Generator: AI if the article has 3+ overused words; every 9th reply is off-format."""

    name = "rule-of-thumb"

    def __init__(self) -> None:
        self.calls = 0

    def generate(self, prompts: Sequence[Prompt], params: GenerationParams | None = None) -> list[Generation]:
        replies = []
        for prompt in prompts:
            self.calls += 1
            article = str(prompt[-1]["content"] if isinstance(prompt, list) else prompt).split("<<<")[-1]
            hits = len(re.findall(r"\b(?:pivotal|vibrant|tapestry|crucial|moreover|delving|seamless)\b", article, re.I))
            label, confidence = ("AI", min(5, 2 + hits)) if hits >= 3 else ("Human", 4 - hits)
            text = f"Label: {label}\nConfidence: {confidence}\nExplanation: {hits} overused words."
            replies.append(Generation("I would rather not say." if self.calls % 9 == 0 else text, "stop", 0, 0))
        return replies


def main(folder: Path | None = None) -> None:
    folder = folder or Path(tempfile.mkdtemp())
    rng = random.Random(0)
    train, train_labels = dataset(rng, 30, 30)
    humans, _ = dataset(rng, 0, 40)  # held-out human texts for calibration
    test, test_labels = dataset(rng, 30, 30)
    clues = ClueDetector(min_words=30).fit(train, train_labels)
    clues.save(folder / "clues.json")
    llm = LLMDetector(RuleOfThumb(), min_words=30)
    members = [  # each calibration records its detector's config, so it can be rebuilt from the file alone
        calibrate_detector(DetectorConfig("clues", clue_model=folder / "clues.json"), humans, 0.05, detector=clues),
        calibrate_detector(DetectorConfig("llm", model=RuleOfThumb.name), humans, 0.05, detector=llm),
    ]
    members[0].save(folder / "clues.cal.json")
    vote = majority_vote(members)
    stacked = stack(members, [clues.score(train), llm.score(train)], train_labels, 0.05,
                    human_scores=[clues.score(humans), llm.score(humans)])  # fmt: skip
    test_scores = [clues.score(test), llm.score(test)]
    rows = {
        "clues": evaluate(test_scores[0], test_labels, True)["overall"],
        "llm": evaluate(test_scores[1], test_labels, True)["overall"],
        "vote": evaluate(vote.score(test_scores), test_labels, True)["overall"],
        "stack": evaluate(stacked.score(test_scores), test_labels, True)["overall"],
    }
    for name, row in rows.items():
        print(f"{name:<6} AUROC {row['auroc']:.3f}  TPR@5%FPR {row['tpr_at_5pct_fpr']:.3f}  refused {row['refused']}")
    flagged = stacked.is_ai(test_scores)
    print(f"stack flags {sum(flagged)} of {len(test)} test texts at threshold {stacked.calibration.threshold:.3f}")
    held_out = evaluate(stacked.score(test_scores), test_labels, True, calibration=stacked.calibration)["overall"]
    print(
        f"stack held-out FPR {held_out['held_out_fpr']:.3f} (95 % bound {held_out['held_out_fpr_upper_95']:.3f}) "
        f"on {held_out['n_human']} human test texts, target {stacked.calibration.target_fpr:.2f}"
    )
    explanation = clues.explain(test[0], top=3)
    print(f"text 0 ({test_labels[0]}): P(AI) {explanation.score:.3f}")
    for clue in explanation.features:
        quotes = [quote for _start, _end, quote in clue.spans][:2]
        print(f"  {clue.category}/{clue.side} {clue.name}: {clue.contribution:+.2f} {quotes}")
    reloaded = load_calibrated(folder / "clues.cal.json")  # the clue detector rebuilt from its saved calibration
    verdicts = [row["ai"] for row in reloaded.score(test)]
    same = verdicts == [members[0].is_ai(score) for score in test_scores[0]]
    print(f"reloaded clues calibration flags {sum(verdicts)} of {len(test)} test texts (same as before: {same})")


if __name__ == "__main__":
    main()
