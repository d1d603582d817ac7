"""`headwater detect score|calibrate|evaluate`: likelihood-based AI-text detectors on your own texts.

Scores are evidence, not proof: they swing on short texts and flag plain English by non-native writers more
often. Calibrate on human texts from your own domain and read the FPR it gives (docs/detection.md).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from headwater.detect import Binoculars, FastDetectGPT
from headwater.detect.calibrate import Calibration, calibrate, evaluate
from headwater.detect.lm_scores import check_same_tokenizer
from headwater.errors import HeadwaterError, InvalidRequestError
from headwater.jsonl import read_jsonl
from headwater.models.loading import load_model, load_tokenizer

app = typer.Typer(
    help="Detect AI-generated text: Binoculars and Fast-DetectGPT, calibrated to a target FPR.", no_args_is_help=True
)
err = Console(stderr=True)
DETECTORS = ("binoculars", "fast-detectgpt")
Detector = Annotated[str, typer.Option(help="binoculars or fast-detectgpt.")]
First = Annotated[str, typer.Option(help="Observer (Binoculars) or sampling model (Fast-DetectGPT).")]
Second = Annotated[str, typer.Option(help="Performer (Binoculars) or scoring model (Fast-DetectGPT).")]
MaxTokens = Annotated[int, typer.Option(help="Tokens scored per text.")]
MinTokens = Annotated[int, typer.Option(help="Texts with fewer tokens are refused.")]
DataDir = Annotated[Path, typer.Option(help="Where built-in models live.")]
Json = Annotated[bool, typer.Option("--json", help="JSON on stdout.")]


def _texts(path: Path) -> list[dict]:
    """JSONL lines with a `text` (and, for calibrate/evaluate, a `label`: ai or human; optional `source`)."""
    rows = []
    for number, row in read_jsonl(path, "text"):
        if not isinstance(row, dict) or not isinstance(row.get("text"), str):
            raise InvalidRequestError(f"line {number}: field 'text' must be a string", param=f"line {number}.text")
        rows.append(row)
    return rows


def _detector(
    name: str, first: str, second: str, max_tokens: int, min_tokens: int, data_dir: Path, ppl_model: str = "observer"
) -> Binoculars | FastDetectGPT:
    if name not in DETECTORS:
        raise InvalidRequestError(f"unknown detector {name!r}; allowed: {', '.join(DETECTORS)}", param="detector")
    tokenizer = load_tokenizer(first, data_dir=data_dir)
    check_same_tokenizer(tokenizer, load_tokenizer(second, data_dir=data_dir))
    one = load_model(first, data_dir=data_dir)
    two = one if second == first else load_model(second, data_dir=data_dir)
    if name == "binoculars":
        return Binoculars(
            one,
            two,
            tokenizer,
            ppl_model=ppl_model,
            max_tokens=max_tokens,  # type: ignore[arg-type]
            min_tokens=min_tokens,
        )
    return FastDetectGPT(one, two, tokenizer, max_tokens=max_tokens, min_tokens=min_tokens)


def _labels(rows: list[dict]) -> list[str]:
    labels = [str(row.get("label", "")).lower() for row in rows]
    bad = [i + 1 for i, label in enumerate(labels) if label not in ("ai", "human")]
    if bad:
        raise InvalidRequestError(f"lines {bad[:5]}: field 'label' must be 'ai' or 'human'", param="label")
    return labels


@app.command()
def score(
    file: Annotated[Path, typer.Argument(help="JSONL with a `text` per line (optional `id`).")],
    detector: Detector = "binoculars",
    observer: First = "tiny-chat",
    performer: Second = "tiny-teacher",
    calibration: Annotated[Path | None, typer.Option(help="A saved calibration: adds an `ai` verdict.")] = None,
    max_tokens: MaxTokens = 512,
    min_tokens: MinTokens = 16,
    data_dir: DataDir = Path(".headwater"),
    as_json: Json = False,
) -> None:
    """Score each text (Binoculars: low = AI; Fast-DetectGPT: high = AI)."""
    try:
        rows = _texts(file)
        saved = Calibration.load(calibration) if calibration else None
        model = _detector(detector, observer, performer, max_tokens, min_tokens, data_dir)
        scores = model.score([row["text"] for row in rows])
    except HeadwaterError as error:
        err.print(f"[red]error:[/] {error.message}")
        raise typer.Exit(2) from None
    for row, value in zip(rows, scores, strict=True):
        result = {"id": row.get("id"), "score": value, "higher_is_ai": model.higher_is_ai}
        if saved is not None:
            result["ai"] = saved.is_ai(value)
        print(json.dumps(result) if as_json else f"{row.get('id', '-')}\t{value:.5f}")


@app.command("calibrate")
def calibrate_command(
    file: Annotated[Path, typer.Argument(help="JSONL of human-written texts from your domain (`text`).")],
    output: Annotated[Path, typer.Option(help="Where to save the calibration (JSON).")],
    detector: Detector = "binoculars",
    observer: First = "tiny-chat",
    performer: Second = "tiny-teacher",
    target_fpr: Annotated[float, typer.Option(help="Largest share of human texts flagged.")] = 0.01,
    max_tokens: MaxTokens = 512,
    min_tokens: MinTokens = 16,
    data_dir: DataDir = Path(".headwater"),
    as_json: Json = False,
) -> None:
    """Pick the threshold that keeps the FPR on your human texts at or below the target, and save it."""
    try:
        rows = _texts(file)
        model = _detector(detector, observer, performer, max_tokens, min_tokens, data_dir)
        scores = model.score([row["text"] for row in rows])
        saved = calibrate(
            detector,
            [observer, performer],
            scores,
            model.higher_is_ai,
            target_fpr,
            {"max_tokens": max_tokens, "min_tokens": min_tokens, "ppl_model": "observer"},
        )
    except HeadwaterError as error:
        err.print(f"[red]error:[/] {error.message}")
        raise typer.Exit(2) from None
    saved.save(output)
    summary = {
        "output": str(output),
        "threshold": saved.threshold,
        "achieved_fpr": saved.achieved_fpr,
        "n_human": saved.n_human,
    }
    if as_json:
        print(json.dumps(summary))
    else:
        err.print(
            f"saved {output}: threshold {saved.threshold:.5f}, FPR {saved.achieved_fpr:.2%} on "
            f"{saved.n_human} human texts"
        )


@app.command("evaluate")
def evaluate_command(
    file: Annotated[Path, typer.Argument(help="JSONL: `text`, `label` (ai or human), optional `source`.")],
    detector: Detector = "binoculars",
    observer: First = "tiny-chat",
    performer: Second = "tiny-teacher",
    max_tokens: MaxTokens = 512,
    min_tokens: MinTokens = 16,
    data_dir: DataDir = Path(".headwater"),
    as_json: Json = False,
) -> None:
    """TPR at 1 % and 5 % FPR, the FPR achieved, and AUROC; per source when lines give one."""
    try:
        rows = _texts(file)
        labels = _labels(rows)
        model = _detector(detector, observer, performer, max_tokens, min_tokens, data_dir)
        scores = model.score([row["text"] for row in rows])
        sources = [str(row["source"]) for row in rows] if all("source" in row for row in rows) else None
        report = evaluate(scores, labels, model.higher_is_ai, sources)
    except HeadwaterError as error:
        err.print(f"[red]error:[/] {error.message}")
        raise typer.Exit(2) from None
    print(json.dumps(report) if as_json else json.dumps(report, indent=2))
