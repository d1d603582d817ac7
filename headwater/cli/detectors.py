"""What `headwater detect` needs besides its commands: read the JSONL, build the named detector, run it into
printable rows, and report errors with the field named (exit 2)."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from rich.console import Console

from headwater.cli.options import generator_for
from headwater.detect.calibrate import Calibration
from headwater.detect.clues import ClueDetector
from headwater.detect.llm_detector import LLMDetector
from headwater.errors import InvalidRequestError
from headwater.jsonl import read_jsonl
from headwater.models.builtin import SMOLLM2
from headwater.models.loading import load_model, load_tokenizer

DETECTORS = ("binoculars", "fast-detectgpt", "clues", "llm")
LIKELIHOOD = ("binoculars", "fast-detectgpt")
PPL_MODELS = ("observer", "performer")
DEFAULT_LM = SMOLLM2
OFFICIAL_PPL_MODEL: Literal["performer"] = "performer"
err = Console(stderr=True)

if TYPE_CHECKING:  # the likelihood detectors load torch and transformers: only when a command builds one
    from headwater.detect.binoculars import Binoculars
    from headwater.detect.fast_detectgpt import FastDetectGPT

    Detector = Binoculars | FastDetectGPT | ClueDetector | LLMDetector


def read_texts(path: Path) -> list[dict]:
    """JSONL lines with a `text` (and, for calibrate/evaluate/train-clues, a `label`; optional `id`, `source`)."""
    rows = []
    for number, row in read_jsonl(path, "text"):
        if not isinstance(row, dict) or not isinstance(row.get("text"), str):
            raise InvalidRequestError(f"line {number}: field 'text' must be a string", param=f"line {number}.text")
        rows.append(row)
    return rows


def read_labels(rows: list[dict]) -> list[str]:
    labels = [str(row.get("label", "")).lower() for row in rows]
    bad = [i + 1 for i, label in enumerate(labels) if label not in ("ai", "human")]
    if bad:
        raise InvalidRequestError(f"lines {bad[:5]}: field 'label' must be 'ai' or 'human'", param="label")
    return labels


@dataclass(frozen=True)
class DetectorChoice:
    """Everything a command's options say about which detector to build.

    The likelihood detectors default to smollm2-135m, a real model, on both sides: never random weights unasked.
    Binoculars' `ppl_model` (the model in the perplexity numerator) defaults to the performer, as in the official
    code, whose published thresholds assume it; it does not apply to the other detectors."""

    name: str
    observer: str = DEFAULT_LM
    performer: str = DEFAULT_LM
    ppl_model: str | None = None
    max_tokens: int = 512
    min_tokens: int = 16
    data_dir: Path = Path(".headwater")
    clue_model: Path | None = None
    model: str | None = None
    base_url: str | None = None
    api_key: str | None = None
    guide: bool = True
    rationale_first: bool = False
    min_words: int | None = None

    def __post_init__(self) -> None:
        if self.ppl_model is None:
            return
        if self.ppl_model not in PPL_MODELS:
            raise InvalidRequestError(
                f"--ppl-model must be observer or performer, got {self.ppl_model!r}", param="ppl_model"
            )
        if self.name != "binoculars":
            raise InvalidRequestError(
                f"--ppl-model applies to binoculars only, not {self.name}; leave it out", param="ppl_model"
            )

    @property
    def numerator(self) -> Literal["observer", "performer"]:
        """The model whose log-likelihood Binoculars divides (the official code's performer unless chosen)."""
        return "observer" if self.ppl_model == "observer" else OFFICIAL_PPL_MODEL

    @classmethod
    def from_options(cls, options: dict[str, object]) -> DetectorChoice:
        """The detector a command's options name; a missing option keeps its default. Given one LM only, it serves
        on both sides (e.g. `--observer gpt2`), since the two must share a tokenizer."""
        names = {field.name for field in fields(cls)} - {"name"}
        given = {key: value for key, value in options.items() if key in names and value is not None}
        given.setdefault("observer", given.get("performer", DEFAULT_LM))
        given.setdefault("performer", given["observer"])
        return cls(str(options.get("detector") or "binoculars"), **given)  # type: ignore[arg-type]

    @classmethod
    def from_calibration(cls, saved: Calibration, data_dir: Path, api_key: str | None) -> DetectorChoice:
        """The detector a saved calibration was made with: its models and settings, so a reload scores alike."""
        settings, models = saved.settings, saved.models
        choice: dict[str, object] = {"name": saved.detector, "data_dir": data_dir, "api_key": api_key}
        if saved.detector == "clues":
            choice |= {"clue_model": Path(models[0]), "min_words": settings.get("min_words")}
        elif saved.detector == "llm":
            choice |= {"model": models[0], "base_url": settings.get("base_url")}
            choice |= {"guide": settings.get("guide", True), "rationale_first": settings.get("rationale_first", False)}
        else:
            choice |= {"observer": models[0], "performer": models[-1]}
            choice |= {"max_tokens": settings.get("max_tokens", 512), "min_tokens": settings.get("min_tokens", 16)}
        if saved.detector == "binoculars":  # calibrations saved before --ppl-model all used the observer
            choice["ppl_model"] = settings.get("ppl_model", "observer")
        return cls(**choice)  # type: ignore[arg-type]

    def check_given(self, given: dict[str, object]) -> None:
        """Options typed next to `--calibration` must agree with it: silently scoring another detector than the
        one the threshold was picked for would give a meaningless verdict."""
        for option, value in given.items():
            saved = self.name if option == "detector" else getattr(self, option)
            if option in ("observer", "performer") and self.name not in LIKELIHOOD:
                saved = None
            if value is not None and saved is None:
                raise InvalidRequestError(
                    f"--{option.replace('_', '-')} does not apply to the calibration's {self.name} detector; leave "
                    "it out",
                    param=option,
                )
            if value is not None and str(value) != str(saved):
                raise InvalidRequestError(
                    f"--{option.replace('_', '-')} {value} differs from the calibration's {saved}; leave it out to "
                    "use the calibrated detector, or calibrate this one",
                    param=option,
                )

    def models(self) -> list[str]:
        if self.name == "clues":
            return [str(self.clue_model)]
        return [str(self.model)] if self.name == "llm" else [self.observer, self.performer]

    def settings(self, detector: Detector) -> dict[str, object]:
        if isinstance(detector, ClueDetector):
            return {"lexicon_version": detector.lexicon.version, "min_words": detector.min_words}
        if isinstance(detector, LLMDetector):
            return {"guide": self.guide, "rationale_first": self.rationale_first, "base_url": self.base_url}
        limits: dict[str, object] = {"max_tokens": self.max_tokens, "min_tokens": self.min_tokens}
        return limits | ({"ppl_model": self.numerator} if self.name == "binoculars" else {})

    def build(self) -> Detector:
        if self.name not in DETECTORS:
            raise InvalidRequestError(
                f"unknown detector {self.name!r}; allowed: {', '.join(DETECTORS)}", param="detector"
            )
        if self.name == "clues":
            if self.clue_model is None:
                raise InvalidRequestError("--clue-model is required (train one with train-clues)", param="clue_model")
            detector = ClueDetector.load(self.clue_model)
            detector.min_words = self.min_words or detector.min_words
            return detector
        if self.name == "llm":
            if not self.model:
                raise InvalidRequestError("--model is required for the llm detector", param="model")
            generator = generator_for(self.model, self.base_url, self.api_key, self.data_dir)
            words = {"min_words": self.min_words} if self.min_words else {}
            return LLMDetector(generator, guide=self.guide, rationale_first=self.rationale_first, **words)
        return self._likelihood()

    def _likelihood(self) -> Binoculars | FastDetectGPT:
        from headwater.detect.binoculars import Binoculars
        from headwater.detect.fast_detectgpt import FastDetectGPT
        from headwater.detect.lm_scores import check_same_tokenizer

        tokenizer = load_tokenizer(self.observer, data_dir=self.data_dir)
        check_same_tokenizer(tokenizer, load_tokenizer(self.performer, data_dir=self.data_dir))
        one = load_model(self.observer, data_dir=self.data_dir)
        two = one if self.performer == self.observer else load_model(self.performer, data_dir=self.data_dir)
        limits = {"max_tokens": self.max_tokens, "min_tokens": self.min_tokens}
        if self.name == "binoculars":
            return Binoculars(one, two, tokenizer, ppl_model=self.numerator, **limits)
        return FastDetectGPT(one, two, tokenizer, **limits)


def run(detector: Detector, texts: list[str], explain: bool = False) -> list[dict[str, object]]:
    """One result per text: `score` (None when refused, with `refused` naming why), and the LLM detector's label,
    confidence and explanation, or the clue detector's top clues when `explain`."""
    if isinstance(detector, LLMDetector):
        results = []
        for result in detector.detect(texts):
            row: dict[str, object] = {"score": None if math.isnan(result.score) else result.score}
            row |= {"label": result.label, "confidence": result.confidence, "explanation": result.explanation}
            results.append(row | ({"refused": result.error} if result.error else {}))
        return results
    reasons = [detector.refusal(text) for text in texts]
    accepted = [text for text, reason in zip(texts, reasons, strict=True) if reason is None]
    scores = iter(detector.score(accepted) if accepted else [])
    rows: list[dict[str, object]] = [
        {"score": next(scores)} if reason is None else {"score": None, "refused": reason} for reason in reasons
    ]
    if explain and isinstance(detector, ClueDetector):
        for row, text in zip(rows, texts, strict=True):
            if row["score"] is None:
                continue
            row["clues"] = [
                {"feature": f.name, "category": f.category, "side": f.side, "contribution": round(f.contribution, 4)}
                | {"quotes": [{"start": s, "end": e, "quote": q} for s, e, q in f.spans[:5]]}
                for f in detector.explain(text, top=5).features
            ]
    return rows


def scores_of(results: list[dict[str, object]]) -> list[float]:
    """Scores for calibrate/evaluate: a refusal is NaN, which both leave out (and evaluate counts)."""
    return [math.nan if r["score"] is None else float(r["score"]) for r in results]  # type: ignore[arg-type]
