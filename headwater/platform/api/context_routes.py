"""`/v1/contexts`: cached contexts by id (see `headwater.platform.contexts`), and how a request that names one
gets its prompt."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field

from headwater.engine.protocol import SamplingParams
from headwater.errors import InvalidRequestError
from headwater.models.tokenizer_text import chat_ids
from headwater.platform.api.responses import error_responses
from headwater.platform.api.schemas import ChatMessage
from headwater.platform.auth import authenticate
from headwater.platform.contexts import CachedContext
from headwater.platform.serving import GenerationPlan, ServedModel
from headwater.platform.state import gateway_of

router = APIRouter(prefix="/v1")
MAX_TTL_S = 7 * 24 * 3600.0


class ContextCreate(BaseModel):
    """A context to cache: a conversation (`messages`) or a text `prompt`, for `ttl_s` seconds."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(min_length=1)
    messages: list[ChatMessage] | None = Field(None, min_length=1)
    prompt: str | None = Field(None, min_length=1)
    ttl_s: float = Field(3600.0, gt=0, le=MAX_TTL_S)


@router.post("/contexts", responses=error_responses(400, 401, 404, 413, 503))
async def create_context(body: ContextCreate, request: Request, tenant: str = Depends(authenticate)) -> dict[str, Any]:
    """Tokenise the context, prefill it on a TE (so its KV is cached there) and return its id."""
    gateway = gateway_of(request)
    model = gateway.model(body.model, tenant)
    if (body.messages is None) == (body.prompt is None):
        raise InvalidRequestError("give exactly one of messages or prompt", param="messages")
    messages = [_as_dict(m) for m in body.messages] if body.messages is not None else None
    ids = await (_render(model, messages) if messages is not None else model.encode_text(body.prompt or ""))
    if len(ids) + 2 > model.context_window:
        raise InvalidRequestError(
            f"the context has {len(ids)} tokens; model {model.name!r} has a context window of "
            f"{model.context_window} tokens and a request needs room after it: shorten the context",
            param="messages" if messages is not None else "prompt",
        )
    context = gateway.contexts.add(tenant, model.name, ids, messages, body.ttl_s)
    # The prefill leaves the context's blocks cached on the TE that ran it, pinned there until the TTL passes. Two
    # tokens, not one: transformers does not hash the blocks of a request that finishes in its prefill step.
    warm = SamplingParams(max_tokens=2, temperature=0)
    plan = GenerationPlan(uuid.uuid4().hex, [ids], [2], 1, warm, [], False, tenant, context.id, body.ttl_s)
    async for _ in model.stream(plan):
        pass
    return context.to_openai()


@router.get("/contexts", responses=error_responses(401))
async def list_contexts(request: Request, tenant: str = Depends(authenticate)) -> dict[str, Any]:
    return {"object": "list", "data": [c.to_openai() for c in gateway_of(request).contexts.list(tenant)]}


@router.get("/contexts/{context_id}", responses=error_responses(401, 404))
async def retrieve_context(context_id: str, request: Request, tenant: str = Depends(authenticate)) -> dict[str, Any]:
    return gateway_of(request).contexts.get(tenant, context_id).to_openai()


@router.delete("/contexts/{context_id}", responses=error_responses(401, 404))
async def delete_context(context_id: str, request: Request, tenant: str = Depends(authenticate)) -> dict[str, Any]:
    """Forget the context and unpin its KV, which becomes evictable like any prefix instead of at its TTL."""
    gateway = gateway_of(request)
    context = gateway.contexts.delete(tenant, context_id)
    served = gateway.models.get(context.model)
    if served is not None:  # every ready TE of the model is told: one holds the pin, the others hold none of it
        for executor in served.group.ready:
            await executor.unpin(context.prompt_ids, tenant or None)
    return {"id": context.id, "object": "context", "deleted": True}


def request_context(request: Request, tenant: str, model: ServedModel, context_id: str | None) -> CachedContext | None:
    """The context a chat or completion request names (404 if unknown, expired or another tenant's; 400 if it was
    made for another model)."""
    if context_id is None:
        return None
    context = gateway_of(request).contexts.get(tenant, context_id)
    if context.model != model.name:
        raise InvalidRequestError(
            f"context {context_id!r} was cached for model {context.model!r}, not {model.name!r}", param="context_id"
        )
    return context


def context_messages(context: CachedContext | None) -> list[dict[str, object]]:
    """The messages a chat request's own messages follow (a prompt context cannot start a chat: 400)."""
    if context is None:
        return []
    if context.messages is None:
        raise InvalidRequestError(
            f"context {context.id!r} was made from a prompt; use it with /v1/completions, or cache messages",
            param="context_id",
        )
    return list(context.messages)


async def prefixed_prompts(model: ServedModel, context: CachedContext, prompt: object) -> list[list[int]]:
    """Completion prompts after a context: its tokens, then each prompt's (text without a second BOS)."""
    texts = [prompt] if isinstance(prompt, str) else prompt
    if not isinstance(texts, list) or not texts or not all(isinstance(t, str | int) for t in texts):
        raise InvalidRequestError("with context_id, prompt is a string, a list of strings or token ids", param="prompt")
    if all(isinstance(t, int) for t in texts):
        return [[*context.prompt_ids, *texts]]
    if not all(isinstance(t, str) for t in texts):
        raise InvalidRequestError("prompt mixes strings and token ids", param="prompt")
    encode = model.tokenizer.encode
    return [[*context.prompt_ids, *await asyncio.to_thread(encode, t, add_special_tokens=False)] for t in texts]


async def _render(model: ServedModel, messages: list[dict[str, object]]) -> list[int]:
    """The conversation as the chat template renders it, without the generation prompt: what a later request's
    rendering starts with."""
    if model.tokenizer.chat_template is None:
        raise InvalidRequestError(f"model {model.name!r} has no chat template; cache a prompt", param="messages")

    def render() -> list[int]:
        try:
            return chat_ids(model.tokenizer, messages, add_generation_prompt=False)
        except Exception as error:  # templates raise their own errors (e.g. roles must alternate)
            raise InvalidRequestError(f"the chat template rejected the messages: {error}", param="messages") from error

    return await asyncio.to_thread(render)


def _as_dict(message: ChatMessage) -> dict[str, object]:
    return {"role": message.role, "content": message.text()}
