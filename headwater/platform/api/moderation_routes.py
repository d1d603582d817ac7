"""`POST /v1/moderations` in OpenAI's request and response shape, backed by the platform's moderation service."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field

from headwater.platform.api.responses import error_responses
from headwater.platform.auth import authenticate
from headwater.platform.state import gateway_of

router = APIRouter(prefix="/v1")


class ModerationRequest(BaseModel):
    """OpenAI's body: `input` is one text or a list of texts; `model` optionally names the guard (the configured
    one, or a served model to moderate with an LLM guard over it)."""

    model_config = ConfigDict(extra="ignore")

    input: str | list[str] = Field(description="A text, or a list of texts, each moderated on its own.")
    model: str | None = Field(None, description="The guard: HEADWATER_MODERATION_GUARD's name or a served model.")


@router.post("/moderations", responses=error_responses(400, 401, 404, 413, 429, 503))
async def moderations(body: ModerationRequest, request: Request, tenant: str = Depends(authenticate)) -> dict:
    """One result per input: `flagged`, `categories`, `category_scores` (OpenAI's keys), plus the guard's `score`."""
    items = [body.input] if isinstance(body.input, str) else list(body.input)
    return await gateway_of(request).moderation.moderate(items, tenant, body.model)
