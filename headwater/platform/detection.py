"""The platform's detection service behind `/v1/detections`: one text scored by a tenant's stored calibration, with
the verdict at the calibration's FPR.

The detector is rebuilt from the calibration, so it scores exactly as the one the threshold was picked for.
Binoculars and Fast-DetectGPT load their observer and performer in the gateway process, once per calibration, and
the few most recently used detectors stay loaded; a clue detector is rebuilt from its stored clue model (cheap, kept
alike). An LLM detector asks a served model through a `ServedGenerator`, so its prompts are admitted, queued and
accounted like any request of the tenant; it is built per request (the generator belongs to the event loop).
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections import OrderedDict
from typing import TYPE_CHECKING

from headwater.detect.config import DetectorConfig, build_detector
from headwater.detect.scoring import CalibratedDetector
from headwater.detect.words import word_refusal
from headwater.errors import InvalidRequestError
from headwater.platform.calibrations import CalibrationStore, StoredCalibration
from headwater.platform.served_generator import ServedGenerator
from headwater.platform.service_limits import check_text_sizes

if TYPE_CHECKING:
    from headwater.platform.app import Gateway

LOADED_DETECTORS = 4
"""Detectors kept loaded (least recently used dropped first): each likelihood detector holds one or two LMs."""


class DetectionService:
    """Stores a tenant's calibrations and scores texts with them."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self.calibrations = CalibrationStore(gateway.settings.data_dir / "detections")
        self._loaded: OrderedDict[tuple[str, str, str], CalibratedDetector] = OrderedDict()
        self._loading = threading.Lock()

    async def detect(self, text: str, name: str, tenant: str, explain: bool = True) -> dict[str, object]:
        """The detection object for `text` scored by the tenant's calibration `name`: the score, the verdict at
        the calibration's FPR (null when the detector refused the text, with `refused` saying why), the clues
        behind a clue detector's score and an LLM detector's label, confidence and explanation."""
        check_text_sizes({"text": text}, self.gateway.settings.service_max_chars)
        if not text.strip():
            raise InvalidRequestError("text is empty: send the text to check", param="text")
        stored, calibrated = await self.detector(tenant, name)
        [row] = await asyncio.to_thread(score_rows, calibrated, [text], explain)
        return detection_object(stored, row)

    async def detector(self, tenant: str, name: str) -> tuple[StoredCalibration, CalibratedDetector]:
        """The tenant's calibration `name` (404 naming `detector` when there is none) and its detector, loaded."""
        stored = self.calibrations.get(tenant, name, param="detector")
        return stored, await self._detector(stored, tenant)

    async def _detector(self, stored: StoredCalibration, tenant: str) -> CalibratedDetector:
        calibration = stored.calibration
        config = DetectorConfig.from_calibration(calibration, self.gateway.settings.data_dir)
        if calibration.detector == "llm":
            from headwater.detect.llm_detector import LLMDetector

            generator = ServedGenerator(self.gateway, calibration.models[0], tenant, kind="detection")
            llm = LLMDetector(generator, guide=config.guide, rationale_first=config.rationale_first)
            return CalibratedDetector(config, calibration, llm)
        return await asyncio.to_thread(self._cached, (tenant, stored.name, stored.digest), stored, config)

    def _cached(
        self, key: tuple[str, str, str], stored: StoredCalibration, config: DetectorConfig
    ) -> CalibratedDetector:
        """The detector for `key`, built once (worker threads may race: the lock serialises the loading)."""
        with self._loading:
            if key in self._loaded:
                self._loaded.move_to_end(key)
                return self._loaded[key]
            if stored.calibration.detector == "clues":
                from headwater.detect.clues import ClueDetector

                clues = ClueDetector.from_dict(stored.clue_model, "clue_model")
                clues.min_words = config.min_words or clues.min_words
                detector = CalibratedDetector(config, stored.calibration, clues)
            else:
                detector = CalibratedDetector(config, stored.calibration, build_detector(config))
            self._loaded[key] = detector
            while len(self._loaded) > LOADED_DETECTORS:
                self._loaded.popitem(last=False)
            return detector

    def forget(self, tenant: str, name: str) -> None:
        """Drop the loaded detectors of a deleted calibration, freeing their models."""
        with self._loading:
            for key in [key for key in self._loaded if key[:2] == (tenant, name)]:
                del self._loaded[key]


def score_rows(calibrated: CalibratedDetector, texts: list[str], explain: bool) -> list[dict[str, object]]:
    """The library's row per text (blocking: run it in a worker thread). The LLM detector raises on a text too
    short for it where the others refuse it: such a text is refused here, the rest scored in one call."""
    refusals: list[str | None] = [None] * len(texts)
    if calibrated.calibration.detector == "llm":
        refusals = [word_refusal(text, getattr(calibrated.detector, "min_words", 1)) for text in texts]
    accepted = [text for text, refusal in zip(texts, refusals, strict=True) if refusal is None]
    scored = iter(calibrated.score(accepted, explain) if accepted else [])
    return [
        next(scored) if refusal is None else {"score": None, "refused": refusal, "ai": None} for refusal in refusals
    ]


def detection_object(stored: StoredCalibration, row: dict[str, object]) -> dict[str, object]:
    """The API's detection: the library's row (`score`, `ai`, `refused`, `clues` or the LLM's `label`,
    `confidence`, `explanation`) with the calibration it was judged by."""
    calibration = stored.calibration
    verdict = row.pop("ai", None)
    decision = None if verdict is None else ("ai" if verdict else "human")
    return {
        "id": f"det-{uuid.uuid4().hex}",
        "object": "detection",
        "detector": stored.name,
        "kind": calibration.detector,
        "models": calibration.models,
        "score": row.pop("score"),
        "decision": decision,
        "ai": verdict,
        "refused": row.pop("refused", None),
        "threshold": calibration.raw_threshold,
        "higher_is_ai": calibration.higher_is_ai,
        "target_fpr": calibration.target_fpr,
        "achieved_fpr": calibration.achieved_fpr,
        **row,
    }
