"""`headwater detect score|calibrate|evaluate|train-clues`: AI-text detectors on your own texts.

Detectors: binoculars and fast-detectgpt (two causal LMs sharing a tokenizer), clues (a clue model trained with
`train-clues`), llm (any model by `--model`, in-process or at `--base-url`). Scores are evidence, not proof: they
swing on short texts and can flag plain English by non-native writers. Calibrate on human texts from your own
domain and read the FPR it gives (docs/detection.md).
"""

from __future__ import annotations

import json
import math
from dataclasses import fields
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from headwater.cli.detectors import DetectorChoice, fail, read_labels, read_texts, run, scores_of
from headwater.cli.options import ApiKey, DataDir, Json
from headwater.detect import ClueDetector, Lexicon
from headwater.detect.calibrate import Calibration, auroc, calibrate, evaluate
from headwater.errors import HeadwaterError

app = typer.Typer(
    help="Detect AI-generated text: Binoculars, Fast-DetectGPT, clue and LLM detectors, calibrated to a target FPR.",
    no_args_is_help=True,
)
err = Console(stderr=True)
Detector = Annotated[str, typer.Option(help="binoculars, fast-detectgpt, clues or llm.")]
First = Annotated[str, typer.Option(help="Observer (Binoculars) or sampling model (Fast-DetectGPT).")]
Second = Annotated[str, typer.Option(help="Performer (Binoculars) or scoring model (Fast-DetectGPT).")]
MaxTokens = Annotated[int, typer.Option(help="Tokens scored per text (binoculars, fast-detectgpt).")]
MinTokens = Annotated[int, typer.Option(help="Texts with fewer tokens are refused (binoculars, fast-detectgpt).")]
MinWords = Annotated[
    int | None, typer.Option(help="Texts with fewer words are refused (clues: default as trained; llm: 40).")
]
ClueModel = Annotated[Path | None, typer.Option(help="A clue model saved by `headwater detect train-clues`.")]
Model = Annotated[str | None, typer.Option(help="The llm detector's model: HF id, path, built-in, or served name.")]
BaseUrl = Annotated[str | None, typer.Option(help="OpenAI-compatible endpoint for --model (llm detector).")]
Guide = Annotated[bool, typer.Option("--guide/--no-guide", help="Give the llm detector the clue guide.")]
RationaleFirst = Annotated[bool, typer.Option("--rationale-first", help="llm detector: reasoning before the verdict.")]


def _choice(detector: str, options: dict[str, object]) -> DetectorChoice:
    """The detector options among a command's parameters (pass `locals()` first thing in the command)."""
    names = {field.name for field in fields(DetectorChoice)} - {"name"}
    return DetectorChoice(detector, **{k: v for k, v in options.items() if k in names})  # type: ignore[arg-type]


def _score_choice(options: dict[str, object], saved: Calibration | None) -> DetectorChoice:
    """The calibrated detector when a calibration is given (other options must agree with it), else the options'."""
    named = ("detector", "observer", "performer", "clue_model", "model")
    if saved is None:
        defaults = {"detector": "binoculars", "observer": "tiny-chat", "performer": "tiny-teacher"}
        resolved = {**options, **{k: options[k] or v for k, v in defaults.items()}}
        return _choice(str(resolved["detector"]), resolved)
    choice = DetectorChoice.from_calibration(saved, options["data_dir"], options["api_key"])  # type: ignore[arg-type]
    choice.check_given({name: options[name] for name in named})
    return choice


@app.command()
def score(
    file: Annotated[Path, typer.Argument(help="JSONL with a `text` per line (optional `id`).")],
    detector: Annotated[str | None, typer.Option(help="binoculars (default), fast-detectgpt, clues or llm.")] = None,
    observer: Annotated[str | None, typer.Option(help="Observer or sampling model (default tiny-chat).")] = None,
    performer: Annotated[str | None, typer.Option(help="Performer or scoring model (default tiny-teacher).")] = None,
    calibration: Annotated[
        Path | None,
        typer.Option(help="A saved calibration: scores with its detector and settings and adds an `ai` verdict."),
    ] = None,
    clue_model: ClueModel = None,
    explain: Annotated[bool, typer.Option("--explain", help="clues: add the top clues with their quotes.")] = False,
    model: Model = None,
    base_url: BaseUrl = None,
    api_key: ApiKey = None,
    guide: Guide = True,
    rationale_first: RationaleFirst = False,
    max_tokens: MaxTokens = 512,
    min_tokens: MinTokens = 16,
    min_words: MinWords = None,
    data_dir: DataDir = Path(".headwater"),
    as_json: Json = False,
) -> None:
    """Score each text (Binoculars: low = AI; the others: high = AI). A refused text has score null and a reason."""
    options = locals()
    try:
        rows = read_texts(file)
        saved = Calibration.load(calibration) if calibration else None
        choice = _score_choice(options, saved)
        model_ = choice.build()
        results = run(model_, [row["text"] for row in rows], explain)
    except HeadwaterError as error:
        fail(error)
    for row, result in zip(rows, results, strict=True):
        line = {"id": row.get("id"), **result, "higher_is_ai": model_.higher_is_ai}
        if saved is not None:
            line["ai"] = None if result["score"] is None else saved.is_ai(result["score"])  # type: ignore[arg-type]
        value = result["score"]
        text = f"{value:.5f}" if value is not None else f"refused ({result['refused']})"
        print(json.dumps(line) if as_json else f"{row.get('id', '-')}\t{text}")


@app.command("calibrate")
def calibrate_command(
    file: Annotated[Path, typer.Argument(help="JSONL of human-written texts from your domain (`text`).")],
    output: Annotated[Path, typer.Option(help="Where to save the calibration (JSON).")],
    detector: Detector = "binoculars",
    observer: First = "tiny-chat",
    performer: Second = "tiny-teacher",
    target_fpr: Annotated[float, typer.Option(help="Largest share of human texts flagged.")] = 0.01,
    clue_model: ClueModel = None,
    model: Model = None,
    base_url: BaseUrl = None,
    api_key: ApiKey = None,
    guide: Guide = True,
    rationale_first: RationaleFirst = False,
    max_tokens: MaxTokens = 512,
    min_tokens: MinTokens = 16,
    min_words: MinWords = None,
    data_dir: DataDir = Path(".headwater"),
    as_json: Json = False,
) -> None:
    """Pick the threshold that keeps the FPR on your human texts at or below the target, and save it."""
    choice = _choice(detector, locals())
    try:
        rows = read_texts(file)
        model_ = choice.build()
        scores = scores_of(run(model_, [row["text"] for row in rows]))
        settings = choice.settings(model_)
        saved = calibrate(detector, choice.models(), scores, model_.higher_is_ai, target_fpr, settings)
    except HeadwaterError as error:
        fail(error)
    saved.save(output)
    summary = {"output": str(output), "threshold": saved.threshold, "achieved_fpr": saved.achieved_fpr}
    summary |= {"n_human": saved.n_human, "refused": len(rows) - saved.n_human}
    if as_json:
        print(json.dumps(summary))
    else:
        err.print(
            f"saved {output}: threshold {saved.threshold:.5f}, FPR {saved.achieved_fpr:.2%} on "
            f"{saved.n_human} human texts ({summary['refused']} refused)"
        )


@app.command("evaluate")
def evaluate_command(
    file: Annotated[Path, typer.Argument(help="JSONL: `text`, `label` (ai or human), optional `source`.")],
    detector: Detector = "binoculars",
    observer: First = "tiny-chat",
    performer: Second = "tiny-teacher",
    clue_model: ClueModel = None,
    model: Model = None,
    base_url: BaseUrl = None,
    api_key: ApiKey = None,
    guide: Guide = True,
    rationale_first: RationaleFirst = False,
    max_tokens: MaxTokens = 512,
    min_tokens: MinTokens = 16,
    min_words: MinWords = None,
    data_dir: DataDir = Path(".headwater"),
    as_json: Json = False,
) -> None:
    """TPR at 1 % and 5 % FPR, the FPR achieved, AUROC and refusals; per source when lines give one."""
    choice = _choice(detector, locals())
    try:
        rows = read_texts(file)
        labels = read_labels(rows)
        model_ = choice.build()
        scores = scores_of(run(model_, [row["text"] for row in rows]))
        sources = [str(row["source"]) for row in rows] if all("source" in row for row in rows) else None
        report = evaluate(scores, labels, model_.higher_is_ai, sources)
    except HeadwaterError as error:
        fail(error)
    print(json.dumps(_finite(report), indent=None if as_json else 2))


def _finite(value: object) -> object:
    """NaN (e.g. AUROC with no scored AI text) as null, so the output is strict JSON."""
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    return None if isinstance(value, float) and math.isnan(value) else value


@app.command("train-clues")
def train_clues(
    file: Annotated[Path, typer.Argument(help="Labelled JSONL: `text`, `label` (ai or human).")],
    output: Annotated[Path, typer.Option(help="Where to save the clue model (JSON).")],
    min_words: Annotated[int, typer.Option(help="Texts with fewer words are refused, now and when scoring.")] = 40,
    c: Annotated[float, typer.Option("--c", help="Inverse L2 regularisation of the logistic regression.")] = 1.0,
    lexicon: Annotated[Path | None, typer.Option(help="A clue lexicon JSON (default: the shipped one).")] = None,
    as_json: Json = False,
) -> None:
    """Fit the clue detector (lexicon rates + per-category features, logistic regression) and save it as JSON."""
    try:
        rows = read_texts(file)
        labels = read_labels(rows)
        texts = [row["text"] for row in rows]
        detector = ClueDetector(Lexicon.load(lexicon), min_words=min_words, c=c).fit(texts, labels)
    except HeadwaterError as error:
        fail(error)
    detector.save(output)
    fitted = detector.score(texts)
    ai = [s for s, label in zip(fitted, labels, strict=True) if label == "ai"]
    human = [s for s, label in zip(fitted, labels, strict=True) if label == "human"]
    top = sorted(zip(detector.feature_names, detector.coef, strict=True), key=lambda pair: -abs(pair[1]))[:5]
    summary = {
        "output": str(output),
        "n_ai": len(ai),
        "n_human": len(human),
        "lexicon_version": detector.lexicon.version,
    }
    summary |= {"train_auroc": auroc(ai, human), "top_weights": {name: round(float(w), 4) for name, w in top}}
    if as_json:
        print(json.dumps(summary))
    else:
        err.print(
            f"saved {output}: {len(ai)} AI / {len(human)} human texts, lexicon {detector.lexicon.version}, "
            f"training AUROC {summary['train_auroc']:.3f} (optimistic: evaluate on held-out texts)"
        )
