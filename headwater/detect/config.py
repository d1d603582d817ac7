"""Which detector to build, as one typed config: from settings (`DetectorConfig(...)`) or from a saved calibration
(`load_calibrated`), so a reloaded detector scores exactly as the one the threshold was picked for."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from headwater.detect.calibrate import Calibration
from headwater.errors import InvalidRequestError
from headwater.models.builtin import SMOLLM2

DETECTORS = ("binoculars", "fast-detectgpt", "clues", "llm")
LIKELIHOOD = ("binoculars", "fast-detectgpt")
PPL_MODELS = ("observer", "performer")
DEFAULT_LM = SMOLLM2
OFFICIAL_PPL_MODEL: Literal["performer"] = "performer"
CALIBRATED_FIELDS = ("detector", "observer", "performer", "ppl_model", "clue_model", "model")
"""The fields a saved calibration fixes: a value given next to it must agree with it."""

if TYPE_CHECKING:  # the likelihood detectors load torch and transformers: only when one is built
    from headwater.detect.binoculars import Binoculars
    from headwater.detect.clues import ClueDetector
    from headwater.detect.fast_detectgpt import FastDetectGPT
    from headwater.detect.llm_detector import LLMDetector

    Detector = Binoculars | FastDetectGPT | ClueDetector | LLMDetector


@dataclass(frozen=True)
class DetectorConfig:
    """Everything that decides which detector is built and how it scores.

    The likelihood detectors default to smollm2-135m, a real model, on both sides: never random weights unasked;
    given one LM only, it serves on both sides, since the two must share a tokenizer. Binoculars' `ppl_model` (the
    model in the perplexity numerator) defaults to the performer, as in the official code, whose published
    thresholds assume it; it does not apply to the other detectors."""

    detector: str = "binoculars"
    """binoculars, fast-detectgpt, clues or llm."""
    observer: str | None = None
    """Binoculars' observer or Fast-DetectGPT's sampling model (default: the performer, else smollm2-135m)."""
    performer: str | None = None
    """Binoculars' performer or Fast-DetectGPT's scoring model (default: the observer)."""
    ppl_model: str | None = None
    """binoculars: observer or performer (default, the official code's) in the perplexity numerator."""
    max_tokens: int = 512
    """Tokens scored per text (likelihood detectors)."""
    min_tokens: int = 16
    """Texts with fewer tokens are refused (likelihood detectors)."""
    data_dir: Path = Path(".headwater")
    """Where built-in models live."""
    clue_model: Path | None = None
    """clues: a model saved by `ClueDetector.save`."""
    model: str | None = None
    """llm: the detecting model (HF id, folder, built-in, or a served name with `base_url`)."""
    base_url: str | None = None
    """llm: OpenAI-compatible endpoint serving `model`."""
    api_key: str | None = None
    """llm: key for `base_url` (default HEADWATER_API_KEY / OPENAI_API_KEY)."""
    guide: bool = True
    """llm: give the model the clue guide."""
    rationale_first: bool = False
    """llm: ask for the reasoning before the verdict."""
    min_words: int | None = None
    """Texts with fewer words are refused (clues: default as trained; llm: 40)."""

    def __post_init__(self) -> None:
        if self.detector not in DETECTORS:
            raise InvalidRequestError(
                f"detector must be one of {', '.join(DETECTORS)}, got {self.detector!r}", param="detector"
            )
        observer = self.observer or self.performer or DEFAULT_LM
        object.__setattr__(self, "observer", observer)
        object.__setattr__(self, "performer", self.performer or observer)
        if self.ppl_model is not None and self.ppl_model not in PPL_MODELS:
            raise InvalidRequestError(
                f"ppl_model must be observer or performer, got {self.ppl_model!r}", param="ppl_model"
            )
        if self.ppl_model is not None and self.detector != "binoculars":
            raise InvalidRequestError(
                f"ppl_model applies to binoculars only, not {self.detector}; leave it out", param="ppl_model"
            )

    @property
    def numerator(self) -> Literal["observer", "performer"]:
        """The model whose log-likelihood Binoculars divides (the official code's performer unless chosen)."""
        return "observer" if self.ppl_model == "observer" else OFFICIAL_PPL_MODEL

    def models(self) -> list[str]:
        """The models a calibration records for this detector."""
        if self.detector == "clues":
            return [str(self.clue_model)]
        return [str(self.model)] if self.detector == "llm" else [str(self.observer), str(self.performer)]

    def settings(self, detector: Detector) -> dict[str, object]:
        """The settings a calibration records, enough to rebuild the detector with `from_calibration`."""
        if self.detector == "clues":
            return {"lexicon_version": detector.lexicon.version, "min_words": detector.min_words}  # type: ignore[union-attr]
        if self.detector == "llm":
            return {"guide": self.guide, "rationale_first": self.rationale_first, "base_url": self.base_url}
        limits: dict[str, object] = {"max_tokens": self.max_tokens, "min_tokens": self.min_tokens}
        return limits | ({"ppl_model": self.numerator} if self.detector == "binoculars" else {})

    @classmethod
    def from_calibration(
        cls, saved: Calibration, data_dir: Path = Path(".headwater"), api_key: str | None = None
    ) -> DetectorConfig:
        """The config a saved calibration was made with: its models and settings, so a reload scores alike."""
        settings, models = saved.settings, saved.models
        given: dict[str, object] = {"detector": saved.detector, "data_dir": data_dir, "api_key": api_key}
        if saved.detector == "clues":
            given |= {"clue_model": Path(models[0]), "min_words": settings.get("min_words")}
        elif saved.detector == "llm":
            given |= {"model": models[0], "base_url": settings.get("base_url")}
            given |= {"guide": settings.get("guide", True), "rationale_first": settings.get("rationale_first", False)}
        else:
            given |= {"observer": models[0], "performer": models[-1]}
            given |= {"max_tokens": settings.get("max_tokens", 512), "min_tokens": settings.get("min_tokens", 16)}
        if saved.detector == "binoculars":  # calibrations saved before ppl_model was recorded all used the observer
            given["ppl_model"] = settings.get("ppl_model", "observer")
        return cls(**given)  # type: ignore[arg-type]

    def check_agrees(self, given: Mapping[str, object]) -> None:
        """Values given next to a calibration must agree with it: silently scoring another detector than the one
        the threshold was picked for would give a meaningless verdict. None means not given."""
        for field, value in given.items():
            if value is None:
                continue
            saved = getattr(self, field)
            if field in ("observer", "performer") and self.detector not in LIKELIHOOD:
                saved = None
            if saved is None:
                raise InvalidRequestError(
                    f"{field} does not apply to the calibration's {self.detector} detector; leave it out", param=field
                )
            if str(value) != str(saved):
                raise InvalidRequestError(
                    f"{field} {value} differs from the calibration's {saved}; leave it out to use the calibrated "
                    "detector, or calibrate this one",
                    param=field,
                )


def build_detector(config: DetectorConfig) -> Detector:
    """The detector the config names, its models loaded (likelihood, llm in-process) or its clue model read."""
    if config.detector == "clues":
        from headwater.detect.clues import ClueDetector

        if config.clue_model is None:
            raise InvalidRequestError("clue_model is required (train one with train-clues)", param="clue_model")
        detector = ClueDetector.load(config.clue_model)
        detector.min_words = config.min_words or detector.min_words
        return detector
    if config.detector == "llm":
        return _llm(config)
    return _likelihood(config)


def _llm(config: DetectorConfig) -> LLMDetector:
    from headwater.detect.llm_detector import LLMDetector
    from headwater.models.endpoint import generator_for

    if not config.model:
        raise InvalidRequestError("model is required for the llm detector", param="model")
    generator = generator_for(config.model, config.base_url, config.api_key, config.data_dir)
    words = {"min_words": config.min_words} if config.min_words else {}
    return LLMDetector(generator, guide=config.guide, rationale_first=config.rationale_first, **words)


def _likelihood(config: DetectorConfig) -> Binoculars | FastDetectGPT:
    from headwater.detect.binoculars import Binoculars
    from headwater.detect.fast_detectgpt import FastDetectGPT
    from headwater.detect.lm_scores import check_same_tokenizer
    from headwater.models.loading import load_model, load_tokenizer

    observer, performer = str(config.observer), str(config.performer)
    tokenizer = load_tokenizer(observer, data_dir=config.data_dir)
    check_same_tokenizer(tokenizer, load_tokenizer(performer, data_dir=config.data_dir))
    one = load_model(observer, data_dir=config.data_dir)
    two = one if performer == observer else load_model(performer, data_dir=config.data_dir)
    limits = {"max_tokens": config.max_tokens, "min_tokens": config.min_tokens}
    if config.detector == "binoculars":
        return Binoculars(one, two, tokenizer, ppl_model=config.numerator, **limits)
    return FastDetectGPT(one, two, tokenizer, **limits)
