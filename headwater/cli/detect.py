"""`headwater detect score|calibrate|evaluate|train-clues`: AI-text detectors on your own texts.

Detectors: binoculars and fast-detectgpt (two causal LMs sharing a tokenizer), clues (a clue model trained with
`train-clues`), llm (any model by `--model`, in-process or at `--base-url`). Scores are evidence, not proof: they
swing on short texts and can flag plain English by non-native writers. Calibrate on human texts from your own
domain and read the FPR it gives (docs/detection.md).
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from headwater.cli.detectors import (
    DEFAULT_LM,
    LIKELIHOOD,
    DetectorChoice,
    read_labels,
    read_texts,
    run,
    scores_of,
)
from headwater.cli.options import ApiKey, DataDir, Json, fail
from headwater.detect import ClueDetector, Lexicon
from headwater.detect.calibrate import Calibration, SmallSampleWarning, auroc, calibrate, evaluate
from headwater.errors import HeadwaterError

app = typer.Typer(
    help="Detect AI-generated text: Binoculars, Fast-DetectGPT, clue and LLM detectors, calibrated to a target FPR.",
    no_args_is_help=True,
)
err = Console(stderr=True)
Detector = Annotated[str | None, typer.Option(help="binoculars (default), fast-detectgpt, clues or llm.")]
First = Annotated[
    str | None,
    typer.Option(
        help=f"Observer (Binoculars) or sampling model (Fast-DetectGPT); default --performer's, else {DEFAULT_LM}."
    ),
]
Second = Annotated[
    str | None,
    typer.Option(
        help=f"Performer (Binoculars) or scoring model (Fast-DetectGPT); default --observer's, else {DEFAULT_LM}."
    ),
]
PplModel = Annotated[
    str | None,
    typer.Option(
        help="binoculars: the model whose perplexity is the numerator: performer (default; the official code's, which "
        "its published thresholds assume) or observer (the paper's formula)."
    ),
]
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


CALIBRATED_OPTIONS = ("detector", "observer", "performer", "ppl_model", "clue_model", "model")


def _choice(options: dict[str, object], saved: Calibration | None = None) -> DetectorChoice:
    """The calibrated detector when a calibration is given (options typed next to it must agree with it), else the
    one the options name (pass `locals()` first thing in the command)."""
    if saved is None:
        choice = DetectorChoice.from_options(options)
        if choice.name in LIKELIHOOD and options["observer"] is None and options["performer"] is None:
            err.print(f"{choice.name}: {DEFAULT_LM} on both sides (the default; --observer/--performer pick others)")
        return choice
    choice = DetectorChoice.from_calibration(saved, options["data_dir"], options["api_key"])  # type: ignore[arg-type]
    choice.check_given({name: options[name] for name in CALIBRATED_OPTIONS})
    return choice


@contextmanager
def _small_sample_warnings(found: list[str]) -> Iterator[None]:
    """Collect the library's small-sample warnings into `found` and print them on stderr, without a traceback line."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", SmallSampleWarning)
        yield
    for warning in caught:
        if not issubclass(warning.category, SmallSampleWarning):
            warnings.showwarning(warning.message, warning.category, warning.filename, warning.lineno)
            continue
        found.append(str(warning.message))
        err.print(f"[yellow]warning:[/] {escape(str(warning.message))}", highlight=False)


@app.command()
def score(
    file: Annotated[Path, typer.Argument(help="JSONL with a `text` per line (optional `id`).")],
    detector: Detector = None,
    observer: First = None,
    performer: Second = None,
    ppl_model: PplModel = None,
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
        choice = _choice(options, saved)
        model_ = choice.build()
        results = run(model_, [row["text"] for row in rows], explain)
    except HeadwaterError as error:
        raise fail(error) from None
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
    detector: Detector = None,
    observer: First = None,
    performer: Second = None,
    ppl_model: PplModel = None,
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
    """Pick the threshold that keeps the FPR on your human texts at or below the target, and save it.

    The saved threshold is on scores oriented so that higher means AI: for Binoculars (low = AI) it is −B, so a
    stored −0.87 means AI when B ≤ 0.87; `raw_threshold` gives it on the detector's own scale."""
    options, found = locals(), []
    try:
        choice = _choice(options)
        rows = read_texts(file)
        model_ = choice.build()
        scores = scores_of(run(model_, [row["text"] for row in rows]))
        settings = choice.settings(model_)
        with _small_sample_warnings(found):
            saved = calibrate(choice.name, choice.models(), scores, model_.higher_is_ai, target_fpr, settings)
    except HeadwaterError as error:
        raise fail(error) from None
    saved.save(output)
    summary = {"output": str(output), "threshold": saved.threshold, "raw_threshold": saved.raw_threshold}
    summary |= {"higher_is_ai": saved.higher_is_ai, "achieved_fpr": saved.achieved_fpr}
    summary |= {"n_human": saved.n_human, "refused": len(rows) - saved.n_human, "warnings": found}
    if as_json:
        print(json.dumps(summary))
    else:
        rule = f"AI if score {'>=' if saved.higher_is_ai else '<='} {saved.raw_threshold:.5f}"
        err.print(
            f"saved {output}: {rule}, FPR {saved.achieved_fpr:.2%} on "
            f"{saved.n_human} human texts ({summary['refused']} refused)"
        )


@app.command("evaluate")
def evaluate_command(
    file: Annotated[Path, typer.Argument(help="JSONL: `text`, `label` (ai or human), optional `source`.")],
    detector: Detector = None,
    observer: First = None,
    performer: Second = None,
    ppl_model: PplModel = None,
    calibration: Annotated[
        Path | None,
        typer.Option(help="A saved calibration: evaluate its detector and report the FPR its threshold gives here."),
    ] = None,
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
    """TPR at 1 % and 5 % FPR, the FPR achieved, AUROC and refusals, overall and per source (`source` field; lines
    without one form the source "(none)"). With --calibration: the held-out FPR and TPR of its threshold."""
    options = locals()
    try:
        saved = Calibration.load(calibration) if calibration else None
        choice = _choice(options, saved)
        rows = read_texts(file)
        labels = read_labels(rows)
        model_ = choice.build()
        scores = scores_of(run(model_, [row["text"] for row in rows]))
        sources = [str(row.get("source", "(none)")) for row in rows] if any("source" in row for row in rows) else None
        report = evaluate(scores, labels, model_.higher_is_ai, sources, calibration=saved)
    except HeadwaterError as error:
        raise fail(error) from None
    warning = report.get("calibration", {}).get("warning")  # type: ignore[union-attr]
    if warning:
        err.print(f"[yellow]warning:[/] {escape(str(warning))}", highlight=False)
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
        raise fail(error) from None
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
