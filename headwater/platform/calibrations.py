"""A tenant's stored detector calibrations: the JSON `headwater detect calibrate` saves, uploaded under a name,
checked field by field and kept under `<data dir>/detections/<tenant>/<name>.json`.

An upload is data, never code: it is parsed as JSON (nothing is unpickled), every field of the calibration is
type-checked, and anything that would make the gateway touch a place the tenant chose is refused: a model named
by a path on the server, a clue model whose lexicon (regular expressions the gateway would run) is not the shipped
one. A clue calibration carries its clue model (the JSON `train-clues` writes) next to it, since the path the
calibration recorded is on the uploader's machine.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime
from pathlib import Path

from headwater.detect.calibrate import Calibration
from headwater.detect.clue_features import Lexicon
from headwater.detect.config import DETECTORS, LIKELIHOOD, PPL_MODELS, DetectorConfig
from headwater.errors import ConflictError, InvalidRequestError, NotFoundError
from headwater.files import write_atomic
from headwater.models.builtin import is_builtin
from headwater.platform.files import tenant_folder

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
HF_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9][A-Za-z0-9_.-]*$")
HIGHER_IS_AI = {"binoculars": False, "fast-detectgpt": True, "clues": True, "llm": True}
"""Each detector's polarity: a calibration claiming the other one would turn every verdict around."""
MAX_TOKENS = 8192


@dataclass(frozen=True)
class StoredCalibration:
    """One named calibration of a tenant, with the clue model a clue calibration needs, and the digest of what
    was stored (a replaced calibration never reuses a detector cached for the old one)."""

    name: str
    calibration: Calibration
    clue_model: dict | None
    created_at: int
    digest: str

    def public(self) -> dict[str, object]:
        """The calibration as the API shows it."""
        c = self.calibration
        return {
            "object": "detection.calibration",
            "name": self.name,
            "detector": c.detector,
            "models": c.models,
            "threshold": c.raw_threshold,
            "higher_is_ai": c.higher_is_ai,
            "target_fpr": c.target_fpr,
            "achieved_fpr": c.achieved_fpr,
            "n_human": c.n_human,
            "settings": c.settings,
            "calibrated_at": c.date,
            "created_at": self.created_at,
        }


class CalibrationStore:
    """Add, read, list and delete a tenant's calibrations; every path stays inside the tenant's folder."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

    def _path(self, tenant: str, name: str, param: str = "name") -> Path:
        if not isinstance(name, str) or not NAME.match(name) or ".." in name:
            raise InvalidRequestError(
                f"{param} must be 1 to 64 letters, digits, '_', '-' or '.', starting with a letter or digit; "
                f"got {name!r}",
                param=param,
            )
        folder = tenant_folder(self.root, tenant)
        path = (folder / f"{name}.json").resolve()
        if path.parent != folder or not folder.is_relative_to(self.root):
            raise InvalidRequestError(f"{param} {name!r} is not a plain name", param=param)
        return path

    def add(self, tenant: str, name: str, calibration: object, clue_model: object = None) -> StoredCalibration:
        """Check and keep an uploaded calibration under `name`; 409 when the tenant already has one so named."""
        path = self._path(tenant, name)
        checked = check_calibration(calibration)
        clues = check_clue_model(checked, clue_model)
        if path.exists():
            raise ConflictError(
                f"a calibration named {name!r} exists; delete it first (DELETE /v1/detections/calibrations/{name}) "
                "or choose another name",
                param="name",
            )
        created = int(datetime.now(UTC).timestamp())
        record = {"name": name, "calibration": asdict(checked), "clue_model": clues, "created_at": created}
        write_atomic(path, json.dumps(record))
        return self.get(tenant, name)

    def get(self, tenant: str, name: str, param: str = "name") -> StoredCalibration:
        """The tenant's calibration `name`; 404 listing the tenant's names when there is none."""
        path = self._path(tenant, name, param)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            names = ", ".join(self.names(tenant)) or "none"
            raise NotFoundError(
                f"detector {name!r} does not exist; your calibrations: {names} "
                "(upload one with POST /v1/detections/calibrations)",
                param=param,
            ) from None
        record = json.loads(text)
        return StoredCalibration(
            record["name"],
            Calibration(**record["calibration"]),
            record["clue_model"],
            int(record["created_at"]),
            hashlib.sha256(text.encode()).hexdigest(),
        )

    def names(self, tenant: str) -> list[str]:
        folder = tenant_folder(self.root, tenant)
        return sorted(p.stem for p in folder.glob("*.json")) if folder.is_dir() else []

    def listing(self, tenant: str) -> list[StoredCalibration]:
        return [self.get(tenant, name) for name in self.names(tenant)]

    def delete(self, tenant: str, name: str) -> None:
        self.get(tenant, name)  # the 404 listing the tenant's names
        self._path(tenant, name).unlink(missing_ok=True)


def _field_error(field: str, message: str) -> InvalidRequestError:
    return InvalidRequestError(f"calibration.{field} {message}", param=f"calibration.{field}")


def _number(data: dict, field: str, low: float, high: float, *, open_low: bool = False) -> float:
    value = data[field]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise _field_error(field, f"must be a finite number, got {value!r}")
    if value > high or value < low or (open_low and value == low):
        raise _field_error(field, f"must be in {'(' if open_low else '['}{low}, {high}], got {value}")
    return float(value)


def _integer(data: dict, field: str, low: int, high: int, prefix: str = "") -> int:
    value = data[field]
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _field_error(prefix + field, f"must be an integer from {low} to {high}, got {value!r}")
    return value


def check_calibration(data: object) -> Calibration:
    """A Calibration from the JSON object `Calibration.save` writes, every field checked and named when wrong."""
    if not isinstance(data, dict):
        raise InvalidRequestError("calibration must be the JSON object `detect calibrate` saves", param="calibration")
    expected = [f.name for f in fields(Calibration)]
    missing = [name for name in expected if name not in data]
    unknown = sorted(set(data) - set(expected))
    if missing or unknown:
        field = (missing or unknown)[0]
        raise _field_error(field, "is missing" if missing else "is not a calibration field")
    detector = data["detector"]
    if detector not in DETECTORS:
        raise _field_error("detector", f"must be one of {', '.join(DETECTORS)}, got {detector!r}")
    if data["higher_is_ai"] is not HIGHER_IS_AI[detector]:
        raise _field_error("higher_is_ai", f"must be {HIGHER_IS_AI[detector]} for the {detector} detector")
    _number(data, "threshold", -math.inf, math.inf)
    _number(data, "target_fpr", 0.0, 1.0, open_low=True)
    if data["target_fpr"] == 1:
        raise _field_error("target_fpr", "must be below 1")
    _number(data, "achieved_fpr", 0.0, 1.0)
    _integer(data, "n_human", 1, 10**9)
    if not isinstance(data["date"], str) or len(data["date"]) > 64:
        raise _field_error("date", "must be a string")
    _check_models(detector, data["models"])
    _check_settings(detector, data["settings"])
    calibration = Calibration(**{**data, "models": list(data["models"]), "settings": dict(data["settings"])})
    DetectorConfig.from_calibration(calibration)  # the detector it describes can be configured
    return calibration


def _check_models(detector: str, models: object) -> None:
    count = 2 if detector in LIKELIHOOD else 1
    if not isinstance(models, list) or len(models) != count or not all(isinstance(m, str) and m for m in models):
        raise _field_error("models", f"must be a list of {count} model name(s) for the {detector} detector")
    if detector not in LIKELIHOOD:
        return  # clues: the uploader's path, replaced by the uploaded clue model; llm: a served model's name
    for model in models:
        if not (is_builtin(model) or HF_ID.match(model)) or ".." in model or Path(model).exists():
            raise _field_error(
                "models",
                f"{model!r} is neither a built-in model nor a Hugging Face id (org/name); the platform loads no "
                "model from a path on the server",
            )


def _check_settings(detector: str, settings: object) -> None:
    if not isinstance(settings, dict):
        raise _field_error("settings", "must be a JSON object")
    allowed = {
        "binoculars": {"max_tokens", "min_tokens", "ppl_model"},
        "fast-detectgpt": {"max_tokens", "min_tokens"},
        "clues": {"lexicon_version", "min_words"},
        "llm": {"guide", "rationale_first", "base_url"},
    }[detector]
    unknown = sorted(set(settings) - allowed)
    if unknown:
        raise _field_error(f"settings.{unknown[0]}", f"is not a setting of the {detector} detector")
    if detector in LIKELIHOOD:
        top = _integer(settings, "max_tokens", 1, MAX_TOKENS, "settings.") if "max_tokens" in settings else 512
        if "min_tokens" in settings:
            _integer(settings, "min_tokens", 1, top, "settings.")
        if "ppl_model" in settings and settings["ppl_model"] not in PPL_MODELS:
            raise _field_error("settings.ppl_model", f"must be one of {', '.join(PPL_MODELS)}")
    elif detector == "clues":
        if "min_words" in settings and settings["min_words"] is not None:
            _integer(settings, "min_words", 1, 100_000, "settings.")
        if not isinstance(settings.get("lexicon_version"), str):
            raise _field_error("settings.lexicon_version", "must be the clue lexicon's version (a string)")
    else:
        for flag in ("guide", "rationale_first"):
            if flag in settings and not isinstance(settings[flag], bool):
                raise _field_error(f"settings.{flag}", "must be true or false")
        if settings.get("base_url") is not None and not isinstance(settings["base_url"], str):
            raise _field_error("settings.base_url", "must be a string or null")


def check_clue_model(calibration: Calibration, clue_model: object) -> dict | None:
    """The clue model a clue calibration needs (None for the other detectors, which must not send one), checked:
    its lexicon must be the shipped one, since its patterns are regular expressions the gateway would run."""
    from headwater.detect.clues import ClueDetector

    if calibration.detector != "clues":
        if clue_model is not None:
            raise InvalidRequestError(
                f"clue_model applies to clue calibrations only, not {calibration.detector}; leave it out",
                param="clue_model",
            )
        return None
    if not isinstance(clue_model, dict):
        raise InvalidRequestError(
            "a clue calibration needs its clue model: send the JSON `detect train-clues` saved as clue_model",
            param="clue_model",
        )
    shipped = Lexicon.load().to_dict()
    lexicon = clue_model.get("lexicon")
    if not isinstance(lexicon, dict) or lexicon.get("entries") != shipped["entries"]:
        raise InvalidRequestError(
            f"clue_model.lexicon is not the platform's lexicon (version {shipped['version']}); re-train the clue "
            "model with the shipped lexicon",
            param="clue_model.lexicon",
        )
    detector = ClueDetector.from_dict(clue_model, "clue_model")
    if calibration.settings["lexicon_version"] != detector.lexicon.version:
        raise _field_error(
            "settings.lexicon_version",
            f"{calibration.settings['lexicon_version']!r} differs from the clue model's {detector.lexicon.version!r}",
        )
    return clue_model
