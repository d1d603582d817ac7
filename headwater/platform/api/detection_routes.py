"""`POST /v1/detections`: one text scored by a named calibrated detector of the tenant (or, with `file_id`, every
`text` of an `evals` JSONL as a `detect` job whose result file has one detection per line); and the tenant's stored
calibrations: `POST /v1/detections/calibrations` (upload the JSON `headwater detect calibrate` saved), `GET` (list),
`DELETE /v1/detections/calibrations/{name}`."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field

from headwater.errors import InvalidRequestError
from headwater.platform.api.file_routes import idempotency_key
from headwater.platform.api.job_routes import job_object
from headwater.platform.api.responses import error_responses
from headwater.platform.auth import authenticate
from headwater.platform.state import gateway_of

router = APIRouter(prefix="/v1")


class DetectionRequest(BaseModel):
    """The text to check and the name of the stored calibration whose detector and threshold judge it."""

    model_config = ConfigDict(extra="forbid")

    text: str | None = Field(None, description="The text to check.")
    detector: str = Field(description="A stored calibration's name (GET /v1/detections/calibrations lists them).")
    explain: bool = Field(True, description="clues: add the top clues behind the score, with their quotes.")
    file_id: str | None = Field(None, description="An `evals` JSONL with a `text` per line: scored as a job.")


class CalibrationUpload(BaseModel):
    """A name of the tenant's choosing and the calibration JSON as saved; a clue calibration adds its clue model."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="1 to 64 letters, digits, '_', '-' or '.'; what `detector` names later.")
    calibration: dict[str, Any] = Field(description="The JSON `headwater detect calibrate --output` saved.")
    clue_model: dict[str, Any] | None = Field(None, description="clues: the JSON `detect train-clues` saved.")


@router.post("/detections", responses=error_responses(400, 401, 404, 413, 429, 503))
async def detections(body: DetectionRequest, request: Request, tenant: str = Depends(authenticate)) -> dict:
    """Score `text` with the calibrated detector `detector`: `score`, `decision` (ai or human at the calibration's
    FPR; null when the detector refused the text, with `refused`), and the clues or the LLM's explanation."""
    if body.file_id is not None:
        return await _job(body, request, tenant)
    if body.text is None:
        raise InvalidRequestError("text is required: the text to check", param="text")
    return await gateway_of(request).detection.detect(body.text, body.detector, tenant, body.explain)


async def _job(body: DetectionRequest, request: Request, tenant: str) -> dict:
    """The file's texts as a `detect` job (a text and a file in one request: refused)."""
    if body.text is not None:
        raise InvalidRequestError("give either text or file_id, not both", param="text")
    service = gateway_of(request).jobs.service_jobs
    settings = {"detector": body.detector, "file_id": body.file_id, "explain": body.explain}
    job = await asyncio.to_thread(service.create_detection, tenant, settings, idempotency_key(request))
    if job.state == "queued":
        service.submit(job.id)
    return job_object(job)


@router.post("/detections/calibrations", responses=error_responses(400, 401, 409, 413))
async def upload_calibration(
    body: CalibrationUpload, request: Request, tenant: str = Depends(authenticate)
) -> dict[str, object]:
    """Store a calibration under `name` for this tenant (409 when the name is taken: delete it first)."""
    stored = gateway_of(request).detection.calibrations.add(tenant, body.name, body.calibration, body.clue_model)
    return stored.public()


@router.get("/detections/calibrations", responses=error_responses(401))
async def list_calibrations(request: Request, tenant: str = Depends(authenticate)) -> dict[str, object]:
    """The tenant's calibrations, by name."""
    stored = gateway_of(request).detection.calibrations.listing(tenant)
    return {"object": "list", "data": [calibration.public() for calibration in stored]}


@router.delete("/detections/calibrations/{name}", responses=error_responses(400, 401, 404))
async def delete_calibration(name: str, request: Request, tenant: str = Depends(authenticate)) -> dict[str, object]:
    """Delete the tenant's calibration `name` (and unload its detector)."""
    service = gateway_of(request).detection
    service.calibrations.delete(tenant, name)
    service.forget(tenant, name)
    return {"object": "detection.calibration.deleted", "name": name, "deleted": True}
