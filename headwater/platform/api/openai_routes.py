"""OpenAI-compatible routes: /v1/models, /v1/chat/completions, /v1/completions.

Each handler turns the body into a `GenerationPlan` (every check that can fail happens here, before any engine
sees the request), then runs it whole or as server-sent events.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator
from typing import cast

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, StreamingResponse

from headwater.engine.protocol import SamplingParams
from headwater.errors import HeadwaterError, InvalidRequestError
from headwater.platform.api import formats
from headwater.platform.api.chat_tools import ChoiceToolCalls, resolve_tool_use
from headwater.platform.api.context_routes import context_messages, prefixed_prompts, request_context
from headwater.platform.api.errors import exception_body
from headwater.platform.api.responses import (
    ChatCompletion,
    Completion,
    ModelCard,
    ModelList,
    error_responses,
    with_stream,
)
from headwater.platform.api.schemas import ChatCompletionRequest, ChatMessage, CompletionRequest, SamplingFields
from headwater.platform.api.structured import response_grammar
from headwater.platform.auth import authenticate
from headwater.platform.runs import Run
from headwater.platform.serving import GenerationPlan, ServedModel
from headwater.platform.state import gateway_of
from headwater.platform.tools import prepare_messages

router = APIRouter(prefix="/v1")
_GENERATION_ERRORS = (400, 401, 404, 413, 429, 503)
logger = logging.getLogger(__name__)


def _model_card(name: str, model: ServedModel, created: int) -> dict[str, object]:
    return {
        "id": name,
        "object": "model",
        "created": created,
        "owned_by": "headwater",
        "context_window": model.context_window,
        "engine": model.backend,
    }


@router.get("/models", response_model=None, responses={200: {"model": ModelList}, **error_responses(401)})
async def list_models(request: Request, tenant: str = Depends(authenticate)) -> dict[str, object]:
    """The models the caller may use: shared ones and its own fine-tuned ones (never another tenant's)."""
    gateway = gateway_of(request)
    created = int(gateway.started_at)
    models = gateway.visible_models(tenant)
    return {"object": "list", "data": [_model_card(name, model, created) for name, model in models.items()]}


@router.get(
    "/models/{model_id:path}", response_model=None, responses={200: {"model": ModelCard}, **error_responses(401, 404)}
)
async def retrieve_model(model_id: str, request: Request, tenant: str = Depends(authenticate)) -> dict[str, object]:
    gateway = gateway_of(request)
    return _model_card(model_id, gateway.model(model_id, tenant), int(gateway.started_at))


def _check_supported(body: SamplingFields, max_n: int) -> None:
    if body.n > max_n:
        raise InvalidRequestError(f"n={body.n} is above this server's limit of {max_n}", param="n")
    unsupported = body.unsupported_field()
    if unsupported is not None:
        raise InvalidRequestError(
            f"{unsupported} is not supported by this server yet; remove it from the request", param=unsupported
        )


def _check_sequences(sequences: int, limit: int) -> None:
    if sequences > limit:
        raise InvalidRequestError(
            f"this request asks for {sequences} sequences (prompts × n); one request may ask for at most {limit} "
            "(HEADWATER_MAX_SEQUENCES_PER_REQUEST): split it",
            param="n",
        )


def _logit_bias(body: SamplingFields, model: ServedModel) -> dict[int, float]:
    vocab = len(model.tokenizer)
    bias = {int(token): value for token, value in (body.logit_bias or {}).items()}
    outside = [token for token in bias if not 0 <= token < vocab]
    if outside:
        raise InvalidRequestError(
            f"logit_bias: token ids must be in [0, {vocab}); got {outside[0]}", param="logit_bias"
        )
    return bias


def _sampling(body: SamplingFields, model: ServedModel, top_logprobs: int, grammar: str | None) -> SamplingParams:
    """The request's sampling settings, each falling back to the model's default, then to OpenAI's."""
    defaults = model.default_sampling
    return SamplingParams(
        temperature=body.temperature if body.temperature is not None else defaults.temperature,
        top_p=body.top_p if body.top_p is not None else defaults.top_p,
        top_k=body.top_k if body.top_k is not None else defaults.top_k,
        seed=body.seed,
        presence_penalty=body.presence_penalty or 0.0,
        frequency_penalty=body.frequency_penalty or 0.0,
        logit_bias=_logit_bias(body, model),
        top_logprobs=top_logprobs,
        grammar=grammar,
    )


@router.post(
    "/chat/completions",
    response_model=None,
    responses={**with_stream(ChatCompletion, "chat.completion.chunk"), **error_responses(*_GENERATION_ERRORS)},
)
async def chat_completions(
    body: ChatCompletionRequest, request: Request, tenant: str = Depends(authenticate)
) -> JSONResponse | StreamingResponse:
    gateway = gateway_of(request)
    model = gateway.model(body.model, tenant)
    _check_supported(body, gateway.settings.max_n)
    _check_sequences(body.n, gateway.settings.max_sequences_per_request)
    if body.top_logprobs and not body.logprobs:
        raise InvalidRequestError("top_logprobs needs logprobs=true", param="top_logprobs")
    grammar = await asyncio.to_thread(response_grammar, body.response_format)
    use = await asyncio.to_thread(resolve_tool_use, body)
    forced_call = use.grammar() if use is not None else None
    if use is not None and forced_call is not None:
        if grammar is not None:
            raise InvalidRequestError(
                f"response_format cannot apply when tool_choice={use.choice!r} forces a tool call; drop one of them",
                param="response_format",
            )
        grammar = forced_call
    native = model.template_renders_tools
    tools = use.tools if use is not None else None
    context = request_context(request, tenant, model, body.context_id)
    messages = prepare_messages([*context_messages(context), *(_message(m) for m in body.messages)], native, tools)
    prompt = await model.encode_chat(messages, tools if native else None)
    field = "max_completion_tokens" if body.max_completion_tokens is not None else "max_tokens"
    budget = model.completion_budget(
        len(prompt), body.requested_max_tokens(), gateway.settings.default_max_tokens, field
    )
    sampling = _sampling(body, model, body.top_logprobs or 0, grammar)
    plan = GenerationPlan(
        uuid.uuid4().hex,
        [prompt],
        [budget],
        body.n,
        sampling,
        body.stop_list(),
        bool(body.logprobs),
        tenant,
        body.context_id,
    )
    calls = ChoiceToolCalls(use) if use is not None else None
    return await _respond(request, tenant, "chat", model, plan, body.stream, body.include_usage(), calls)


def _message(message: ChatMessage) -> dict[str, object]:
    """A request message as the template preparation reads it: text content, earlier calls, tool result ids."""
    prepared: dict[str, object] = {"role": message.role, "content": message.text()}
    if message.tool_calls:
        prepared["tool_calls"] = [call.model_dump() for call in message.tool_calls]
    if message.tool_call_id is not None:
        prepared["tool_call_id"] = message.tool_call_id
    return prepared


async def _completion_prompts(
    model: ServedModel, prompt: str | list[str] | list[int] | list[list[int]]
) -> list[list[int]]:
    if isinstance(prompt, str):
        return [await model.encode_text(prompt)]
    if not prompt:
        raise InvalidRequestError("prompt is an empty list", param="prompt")
    if all(isinstance(item, int) for item in prompt):
        return [list(cast(list[int], prompt))]
    if all(isinstance(item, str) for item in prompt):
        return [await model.encode_text(text) for text in cast(list[str], prompt)]
    return [list(ids) for ids in cast(list[list[int]], prompt)]


@router.post(
    "/completions",
    response_model=None,
    responses={**with_stream(Completion, "text_completion"), **error_responses(*_GENERATION_ERRORS)},
)
async def completions(
    body: CompletionRequest, request: Request, tenant: str = Depends(authenticate)
) -> JSONResponse | StreamingResponse:
    gateway = gateway_of(request)
    model = gateway.model(body.model, tenant)
    _check_supported(body, gateway.settings.max_n)
    if body.suffix:
        raise InvalidRequestError("suffix (fill-in-the-middle) is not supported", param="suffix")
    if body.echo:
        raise InvalidRequestError("echo is not supported yet", param="echo")
    grammar = await asyncio.to_thread(response_grammar, body.response_format)
    context = request_context(request, tenant, model, body.context_id)
    if context is not None:
        prompts = await prefixed_prompts(model, context, body.prompt)
    else:
        prompts = await _completion_prompts(model, body.prompt)
    _check_sequences(len(prompts) * body.n, gateway.settings.max_sequences_per_request)
    vocab = len(model.tokenizer)
    if any(token < 0 or token >= vocab for prompt in prompts for token in prompt):
        raise InvalidRequestError(f"prompt token ids must be in [0, {vocab})", param="prompt")
    budgets = [
        model.completion_budget(len(prompt), body.max_tokens, gateway.settings.default_max_tokens, "max_tokens")
        for prompt in prompts
    ]
    sampling = _sampling(body, model, body.logprobs or 0, grammar)
    plan = GenerationPlan(
        uuid.uuid4().hex,
        prompts,
        budgets,
        body.n,
        sampling,
        body.stop_list(),
        body.logprobs is not None,
        tenant,
        body.context_id,
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
    calls: ChoiceToolCalls | None = None,
) -> JSONResponse | StreamingResponse:
    gateway = gateway_of(request)
    run = await Run.begin(gateway.services, tenant, kind, model, plan)
    if stream:
        events = _sse(run, kind, include_usage, calls)
        return StreamingResponse(events, media_type="text/event-stream", headers={"X-Headwater-Job": run.job_id})
    choices = await _collect_unless_gone(request, run, calls)
    usage = formats.usage(plan.prompt_tokens, run.completion_tokens, sum(run.cached_by_prompt.values()))
    body = formats.full_response(kind, plan.request_id, model.name, choices, usage, plan.logprobs)
    return JSONResponse(body, headers={"X-Headwater-Job": run.job_id})


DISCONNECT_POLL_S = 0.25


async def _collect_unless_gone(request: Request, run: Run, calls: ChoiceToolCalls | None) -> list[formats.Choice]:
    """The choices of a non-streaming run; if the client disconnects first, the run is cancelled (its engine work
    aborted, its job recorded `cancelled`) instead of running to the end for no one."""
    plan = run.plan
    choices = {index: formats.Choice(index) for index in range(plan.n * len(plan.prompts))}

    async def collect() -> None:
        async for delta in run.deltas():
            if calls is None:
                choices[delta.index].add(delta)
            else:
                choices[delta.index].add(*calls.split(delta))

    collecting = asyncio.create_task(collect())
    try:
        while not collecting.done():
            await asyncio.wait({collecting}, timeout=DISCONNECT_POLL_S)
            if not collecting.done() and await request.is_disconnected():
                collecting.cancel()
                break
        await collecting
    finally:
        collecting.cancel()
    return list(choices.values())


async def _sse(
    run: Run, kind: formats.Kind, include_usage: bool, calls: ChoiceToolCalls | None
) -> AsyncIterator[bytes]:
    plan, name = run.plan, run.model.name
    offsets = dict.fromkeys(range(plan.n * len(plan.prompts)), 0)
    try:
        if kind == "chat":
            for index in offsets:
                yield formats.sse(formats.role_chunk(plan.request_id, name, index))
        async for delta in run.deltas():
            released: list[dict[str, object]] = []
            if calls is not None:
                delta, new_calls = calls.split(delta)
                first = calls.count(delta.index) - len(new_calls)
                released = [call.to_openai(first + i) for i, call in enumerate(new_calls)]
            if not (delta.text or delta.finish_reason or released or delta.logprobs):
                continue  # text held back while a tool call may be starting
            yield formats.sse(
                formats.stream_chunk(kind, plan.request_id, name, delta, plan.logprobs, offsets[delta.index], released)
            )
            offsets[delta.index] += len(delta.text)
    except Exception as error:  # the stream has started: the error can only travel as an SSE event
        if not isinstance(error, HeadwaterError):
            logger.exception("stream %s failed", plan.request_id)
        yield formats.sse(exception_body(error))
        return
    finally:
        await run.close()
    if include_usage:
        yield formats.sse(
            formats.usage_chunk(
                kind,
                plan.request_id,
                name,
                formats.usage(plan.prompt_tokens, run.completion_tokens, sum(run.cached_by_prompt.values())),
            )
        )
    yield formats.sse("[DONE]")
