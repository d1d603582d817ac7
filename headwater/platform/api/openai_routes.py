"""OpenAI-compatible routes: /v1/models, /v1/chat/completions, /v1/completions.

Each handler turns the body into a `GenerationPlan` (every check that can fail happens here, before any engine
sees the request), then runs it whole or as server-sent events.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, StreamingResponse

from headwater.engine.protocol import SamplingParams
from headwater.errors import HeadwaterError, InvalidRequestError
from headwater.platform.api import formats
from headwater.platform.api.errors import error_body
from headwater.platform.api.schemas import ChatCompletionRequest, CompletionRequest, SamplingFields
from headwater.platform.auth import authenticate
from headwater.platform.runs import Run
from headwater.platform.serving import GenerationPlan, ServedModel

router = APIRouter(prefix="/v1")
logger = logging.getLogger(__name__)


@router.get("/models")
async def list_models(request: Request, _tenant: str = Depends(authenticate)) -> dict[str, object]:
    gateway = request.app.state.gateway
    created = int(gateway.started_at)
    data = [
        {
            "id": name,
            "object": "model",
            "created": created,
            "owned_by": "headwater",
            "context_window": model.context_window,
        }
        for name, model in gateway.models.items()
    ]
    return {"object": "list", "data": data}


def _check_supported(body: SamplingFields, max_n: int) -> None:
    if body.n > max_n:
        raise InvalidRequestError(f"n={body.n} is above this server's limit of {max_n}", param="n")
    for field in ("presence_penalty", "frequency_penalty"):
        if getattr(body, field) != 0:
            raise InvalidRequestError(f"{field} is not supported by this engine yet; leave it at 0", param=field)


def _sampling(body: SamplingFields, model: ServedModel) -> SamplingParams:
    """The request's sampling settings, each falling back to the model's default, then to OpenAI's."""
    defaults = model.default_sampling
    return SamplingParams(
        temperature=body.temperature if body.temperature is not None else defaults.temperature,
        top_p=body.top_p if body.top_p is not None else defaults.top_p,
        top_k=body.top_k if body.top_k is not None else defaults.top_k,
        seed=body.seed,
    )


@router.post("/chat/completions", response_model=None)
async def chat_completions(
    body: ChatCompletionRequest, request: Request, tenant: str = Depends(authenticate)
) -> JSONResponse | StreamingResponse:
    gateway = request.app.state.gateway
    model = gateway.model(body.model)
    _check_supported(body, gateway.settings.max_n)
    if body.top_logprobs:
        raise InvalidRequestError(
            "top_logprobs is not supported yet; logprobs=true gives each token's log-probability", param="top_logprobs"
        )
    prompt = await model.encode_chat([{"role": m.role, "content": m.text()} for m in body.messages])
    field = "max_completion_tokens" if body.max_completion_tokens is not None else "max_tokens"
    budget = model.completion_budget(
        len(prompt), body.requested_max_tokens(), gateway.settings.default_max_tokens, field
    )
    plan = GenerationPlan(
        uuid.uuid4().hex, [prompt], [budget], body.n, _sampling(body, model), body.stop_list(), body.logprobs
    )
    return await _respond(request, tenant, "chat", model, plan, body.stream, body.include_usage())


async def _completion_prompts(
    model: ServedModel, prompt: str | list[str] | list[int] | list[list[int]]
) -> list[list[int]]:
    if isinstance(prompt, str):
        return [await model.encode_text(prompt)]
    if not prompt:
        raise InvalidRequestError("prompt is an empty list", param="prompt")
    if all(isinstance(item, int) for item in prompt):
        return [list(prompt)]
    if all(isinstance(item, str) for item in prompt):
        return [await model.encode_text(text) for text in prompt]
    return [list(ids) for ids in prompt]


@router.post("/completions", response_model=None)
async def completions(
    body: CompletionRequest, request: Request, tenant: str = Depends(authenticate)
) -> JSONResponse | StreamingResponse:
    gateway = request.app.state.gateway
    model = gateway.model(body.model)
    _check_supported(body, gateway.settings.max_n)
    if body.suffix:
        raise InvalidRequestError("suffix (fill-in-the-middle) is not supported", param="suffix")
    if body.echo:
        raise InvalidRequestError("echo is not supported yet", param="echo")
    prompts = await _completion_prompts(model, body.prompt)
    vocab = len(model.tokenizer)
    if any(token < 0 or token >= vocab for prompt in prompts for token in prompt):
        raise InvalidRequestError(f"prompt token ids must be in [0, {vocab})", param="prompt")
    budgets = [
        model.completion_budget(len(prompt), body.max_tokens, gateway.settings.default_max_tokens, "max_tokens")
        for prompt in prompts
    ]
    plan = GenerationPlan(
        uuid.uuid4().hex, prompts, budgets, body.n, _sampling(body, model), body.stop_list(), body.logprobs is not None
    )
    return await _respond(request, tenant, "completion", model, plan, body.stream, body.include_usage())


async def _respond(
    request: Request,
    tenant: str,
    kind: formats.Kind,
    model: ServedModel,
    plan: GenerationPlan,
    stream: bool,
    include_usage: bool,
) -> JSONResponse | StreamingResponse:
    gateway = request.app.state.gateway
    run = await Run.begin(gateway.services, tenant, kind, model, plan)
    if stream:
        return StreamingResponse(
            _sse(run, kind, include_usage), media_type="text/event-stream", headers={"X-Headwater-Job": run.job_id}
        )
    choices = {index: formats.Choice(index) for index in range(plan.n * len(plan.prompts))}
    async for delta in run.deltas():
        choices[delta.index].add(delta)
    usage = formats.usage(plan.prompt_tokens, run.completion_tokens)
    body = formats.full_response(kind, plan.request_id, model.name, list(choices.values()), usage, plan.logprobs)
    return JSONResponse(body, headers={"X-Headwater-Job": run.job_id})


async def _sse(run: Run, kind: formats.Kind, include_usage: bool) -> AsyncIterator[bytes]:
    plan, name = run.plan, run.model.name
    offsets = dict.fromkeys(range(plan.n * len(plan.prompts)), 0)
    try:
        if kind == "chat":
            for index in offsets:
                yield formats.sse(formats.role_chunk(plan.request_id, name, index))
        async for delta in run.deltas():
            yield formats.sse(
                formats.stream_chunk(kind, plan.request_id, name, delta, plan.logprobs, offsets[delta.index])
            )
            offsets[delta.index] += len(delta.text)
    except Exception as error:  # the stream has started: the error can only travel as an SSE event
        if not isinstance(error, HeadwaterError):
            logger.exception("stream %s failed", plan.request_id)
        status = getattr(error, "status_code", 500)
        kind_name = getattr(error, "error_type", "internal_error")
        yield formats.sse({"error": {**error_body(str(error), kind_name)["error"], "code": status}})
        return
    finally:
        await run.close()
    if include_usage:
        yield formats.sse(
            formats.usage_chunk(kind, plan.request_id, name, formats.usage(plan.prompt_tokens, run.completion_tokens))
        )
    yield formats.sse("[DONE]")
