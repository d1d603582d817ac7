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
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape

from headwater.cli.options import Endpoint, Json, as_flag, fail, option_groups
from headwater.detect import ClueDetector, Lexicon
from headwater.detect.calibrate import Calibration, SmallSampleWarning, auroc
from headwater.detect.config import DEFAULT_LM, LIKELIHOOD, DetectorConfig, build_detector
from headwater.detect.scoring import (
    calibrate_detector,
    evaluate_texts,
    load_calibrated,
    read_labels,
    read_texts,
    score_texts,
)
from headwater.errors import HeadwaterError

if TYPE_CHECKING:
    from headwater.detect.config import Detector

app = typer.Typer(
    help="Detect AI-generated text: Binoculars, Fast-DetectGPT, clue and LLM detectors, calibrated to a target FPR.",
    no_args_is_help=True,
)
err = Console(stderr=True)
DetectorName = Annotated[str | None, typer.Option(help="binoculars (default), fast-detectgpt, clues or llm.")]
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
Guide = Annotated[bool, typer.Option("--guide/--no-guide", help="Give the llm detector the clue guide.")]
CalibrationFile = Annotated[
    Path | None,
    typer.Option(
        "--calibration",
        help="A saved calibration: use its detector and settings (score adds an `ai` verdict; evaluate reports the "
        "FPR and TPR its threshold gives on these texts).",
    ),
]
RationaleFirst = Annotated[bool, typer.Option("--rationale-first", help="llm detector: reasoning before the verdict.")]


@dataclass(frozen=True)
class DetectorOptions(Endpoint):
    """The options naming the detector: DetectorConfig's fields as flags, None where not given."""

    detector: DetectorName = None
    observer: First = None
    performer: Second = None
    ppl_model: PplModel = None
    clue_model: ClueModel = None
    model: Model = None
    guide: Guide = True
    rationale_first: RationaleFirst = False
    max_tokens: MaxTokens = 512
    min_tokens: MinTokens = 16
    min_words: MinWords = None

    def config(self) -> DetectorConfig:
        """The detector the options name (said on stderr when the default LMs are used)."""
        config = DetectorConfig(**{key: value for key, value in asdict(self).items() if value is not None})
        if config.detector in LIKELIHOOD and self.observer is None and self.performer is None:
            err.print(
                f"{config.detector}: {DEFAULT_LM} on both sides (the default; --observer/--performer pick others)"
            )
        return config

    def detector_for(self, calibration: Path | None) -> tuple[Calibration | None, Detector]:
        """The detector saved with the calibration when one is given (options given next to it must agree with
        it), else the one the options name, built."""
        if calibration is None:
            return None, build_detector(self.config())
        loaded = load_calibrated(calibration, data_dir=self.data_dir, api_key=self.api_key, expected=asdict(self))
        return loaded.calibration, loaded.detector


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
@option_groups
def score(
    file: Annotated[Path, typer.Argument(help="JSONL with a `text` per line (optional `id`).")],
    options: DetectorOptions,
    calibration: CalibrationFile = None,
    explain: Annotated[bool, typer.Option("--explain", help="clues: add the top clues with their quotes.")] = False,
    as_json: Json = False,
) -> None:
    """Score each text (Binoculars: low = AI; the others: high = AI). A refused text has score null and a reason."""
    try:
        rows = read_texts(file)
        saved, detector = options.detector_for(calibration)
        results = score_texts(detector, [row["text"] for row in rows], explain)
    except HeadwaterError as error:
        raise fail(as_flag(error)) from None
    for row, result in zip(rows, results, strict=True):
        line = {"id": row.get("id"), **result, "higher_is_ai": detector.higher_is_ai}
        if saved is not None:
            line["ai"] = None if result["score"] is None else saved.is_ai(result["score"])  # type: ignore[arg-type]
        value = result["score"]
        text = f"{value:.5f}" if value is not None else f"refused ({result['refused']})"
        print(json.dumps(line) if as_json else f"{row.get('id', '-')}\t{text}")


@app.command("calibrate")
@option_groups
def calibrate_command(
    file: Annotated[Path, typer.Argument(help="JSONL of human-written texts from your domain (`text`).")],
    output: Annotated[Path, typer.Option(help="Where to save the calibration (JSON).")],
    options: DetectorOptions,
    target_fpr: Annotated[float, typer.Option(help="Largest share of human texts flagged.")] = 0.01,
    as_json: Json = False,
) -> None:
    """Pick the threshold that keeps the FPR on your human texts at or below the target, and save it.

    The saved threshold is on scores oriented so that higher means AI: for Binoculars (low = AI) it is −B, so a
    stored −0.87 means AI when B ≤ 0.87; `raw_threshold` gives it on the detector's own scale."""
    found: list[str] = []
    try:
        config = options.config()
        rows = read_texts(file)
        with _small_sample_warnings(found):
            saved = calibrate_detector(config, [row["text"] for row in rows], target_fpr)
    except HeadwaterError as error:
        raise fail(as_flag(error)) from None
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
@option_groups
def evaluate_command(
    file: Annotated[Path, typer.Argument(help="JSONL: `text`, `label` (ai or human), optional `source`.")],
    options: DetectorOptions,
    calibration: CalibrationFile = None,
    as_json: Json = False,
) -> None:
    """TPR at 1 % and 5 % FPR, the FPR achieved, AUROC and refusals, overall and per source (`source` field; lines
    without one form the source "(none)"). With --calibration: the held-out FPR and TPR of its threshold."""
    try:
        rows = read_texts(file)
        read_labels(rows)  # before any model loads
        saved, detector = options.detector_for(calibration)
        report = evaluate_texts(detector, rows, calibration=saved)
    except HeadwaterError as error:
        raise fail(as_flag(error)) from None
    warning = report.get("calibration", {}).get("warning")  # type: ignore[attr-defined]
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
