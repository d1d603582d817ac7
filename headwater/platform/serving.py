"""A served model on the gateway side: its tokenizer, its context window and its task-executor group.

The gateway does the text work here, off the engines: chat templating and tokenisation (in worker threads),
budget checks against the context window (so a bad request never reaches an engine), incremental
detokenisation, stop strings, and merging the `n` choices of a request into one stream.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import msgspec
from transformers import PreTrainedTokenizerBase

from headwater.engine.protocol import EngineBackend, EngineOutput, EngineRequest, SamplingParams
from headwater.errors import EngineUnavailableError, HeadwaterError, InvalidRequestError
from headwater.models.tokenizer_text import chat_ids
from headwater.platform.detokenize import IncrementalDetokenizer, StopMatcher
from headwater.platform.disaggregation import DisaggregatedRoute
from headwater.platform.executors.protocol import Executor
from headwater.platform.fair_queue import FairQueue
from headwater.platform.logprobs import ContentLogprobs, TokenBytes, TokenLogprob
from headwater.platform.te_group import TEGroup
from headwater.platform.tools import template_renders_tools

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ChoiceDelta:
    """New text of one choice; `finish_reason` is set on the last delta of that choice."""

    index: int
    text: str
    token_count: int
    logprobs: list[TokenLogprob]
    finish_reason: str | None = None
    cached_tokens: int = 0
    """Prompt tokens of this choice whose KV the engine reused (on its first delta)."""


@dataclass(frozen=True)
class GenerationPlan:
    """A validated request ready to run: tokenised prompts, their completion budgets (`max_tokens`, one per
    prompt, override the sampling's own) and sampling settings."""

    request_id: str
    prompts: list[list[int]]
    max_tokens: list[int]
    n: int
    sampling: SamplingParams
    stops: list[str]
    logprobs: bool
    tenant: str = ""
    context_id: str | None = None
    """A cached context the prompts start with (`/v1/contexts`): routed to the TE holding it."""
    pin_s: float = 0.0
    """Keep the prompts' KV pinned in the engine this long after they finish (a context's TTL)."""

    @property
    def prompt_tokens(self) -> int:
        return sum(len(prompt) for prompt in self.prompts)

    @property
    def sequences(self) -> int:
        """What the request costs the engines: one sequence per prompt and choice."""
        return self.n * len(self.prompts)


class ServedModel:
    """One model name served by a group of task executors (see `headwater.platform.te_group`)."""

    def __init__(
        self,
        name: str,
        tokenizer: PreTrainedTokenizerBase,
        context_window: int,
        group: TEGroup,
        default_sampling: SamplingParams | None = None,
        fair_queue: FairQueue | None = None,
    ) -> None:
        """`fair_queue` shares the executors' sequence slots between tenants (default: unbounded, first come)."""
        self.name = name
        self.tokenizer = tokenizer
        self.context_window = context_window
        self.group = group
        self.default_sampling = default_sampling or SamplingParams()
        self.fair_queue = fair_queue or FairQueue(slots=1_000_000)
        self.token_bytes = TokenBytes(tokenizer)
        self.backend: EngineBackend = "transformers"
        """The engine its TEs host (reported by /health and /v1/models)."""
        self.disaggregated: DisaggregatedRoute | None = None
        """Set for `serving_mode: disaggregated`: each sequence runs on a prefill TE, then a decode TE."""

    @property
    def executors(self) -> list[Executor]:
        return self.group.executors

    @property
    def in_flight(self) -> int:
        """Sequences being generated for this model across its executors."""
        return self.group.in_flight

    @property
    def template_renders_tools(self) -> bool:
        return template_renders_tools(self.tokenizer.chat_template)

    async def encode_chat(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None = None) -> list[int]:
        if self.tokenizer.chat_template is None:
            raise InvalidRequestError(
                f"model {self.name!r} has no chat template; use /v1/completions", param="messages"
            )
        return await asyncio.to_thread(self._apply_chat_template, messages, tools)

    def _apply_chat_template(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None) -> list[int]:
        try:
            return chat_ids(self.tokenizer, messages, add_generation_prompt=True, tools=tools)
        except Exception as error:  # templates raise their own errors (e.g. roles must alternate)
            raise InvalidRequestError(f"the chat template rejected the messages: {error}", param="messages") from error

    async def encode_text(self, text: str) -> list[int]:
        return await asyncio.to_thread(lambda: list(self.tokenizer.encode(text, add_special_tokens=True)))

    def completion_budget(self, prompt_len: int, requested: int | None, default: int, field: str) -> int:
        """Completion tokens for a prompt: as requested if it fits the context window, else a 400 error."""
        if prompt_len == 0:
            raise InvalidRequestError("the prompt is empty", param="prompt")
        room = self.context_window - prompt_len
        if room <= 0:
            raise InvalidRequestError(
                f"the prompt has {prompt_len} tokens; model {self.name!r} has a context window of "
                f"{self.context_window} tokens: shorten the prompt",
                param="messages",
            )
        if requested is None:
            return min(default, room)
        if requested > room:
            raise InvalidRequestError(
                f"{field}={requested} does not fit: the prompt has {prompt_len} tokens and the context window is "
                f"{self.context_window}; ask for at most {room}",
                param=field,
            )
        return requested

    async def stream(self, plan: GenerationPlan) -> AsyncIterator[ChoiceDelta]:
        """Every choice of the plan, interleaved as tokens arrive."""
        choices = [
            (prompt_index * plan.n + sample, prompt, budget)
            for prompt_index, (prompt, budget) in enumerate(zip(plan.prompts, plan.max_tokens, strict=True))
            for sample in range(plan.n)
        ]
        if len(choices) == 1:
            async for delta in self._stream_choice(plan, *choices[0]):
                yield delta
            return
        queue: asyncio.Queue[ChoiceDelta | BaseException] = asyncio.Queue()

        async def pump(index: int, prompt: list[int], budget: int) -> None:
            try:
                async for delta in self._stream_choice(plan, index, prompt, budget):
                    queue.put_nowait(delta)
            except Exception as error:  # forwarded to the consumer, which raises it: a choice never hangs silently
                queue.put_nowait(error)
            except asyncio.CancelledError:
                queue.put_nowait(EngineUnavailableError("a choice's generation was interrupted; retry"))
                raise

        tasks = [asyncio.create_task(pump(*choice)) for choice in choices]
        remaining = len(tasks)
        try:
            while remaining:
                item = await queue.get()
                if isinstance(item, BaseException):
                    raise item
                remaining -= item.finish_reason is not None
                yield item
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _stream_choice(
        self, plan: GenerationPlan, index: int, prompt: list[int], budget: int
    ) -> AsyncIterator[ChoiceDelta]:
        seed = plan.sampling.seed
        params = msgspec.structs.replace(
            plan.sampling,
            max_tokens=budget,
            seed=None if seed is None else seed + index,  # n seeded choices differ, reproducibly
        )
        request = EngineRequest(
            f"{plan.request_id}-{index}", prompt, params, cache_salt=plan.tenant or None, pin_s=plan.pin_s
        )
        async with self.fair_queue.slot(plan.tenant):  # waits here, not in the engine, when the TEs are full
            async for delta in self._generate(plan, index, request):
                yield delta

    async def _generate(self, plan: GenerationPlan, index: int, request: EngineRequest) -> AsyncIterator[ChoiceDelta]:
        detokenizer = IncrementalDetokenizer(self.tokenizer)
        stops = StopMatcher(plan.stops)
        content = ContentLogprobs(self.token_bytes) if plan.logprobs else None  # decoding per token costs
        async for output in self._outputs(request, plan.context_id is not None):
            if output.finish_reason == "error":
                raise HeadwaterError(f"the engine failed on this request: {output.error}")
            text = stops.feed(detokenizer.add(output.token_ids))
            if content is not None:
                content.add(output.token_ids, output.logprobs, output.top_logprobs)
            finish = "stop" if stops.stopped else output.finish_reason
            if finish is not None and not stops.stopped:
                text += stops.flush()
                finish = "length" if finish == "length" else "stop"
            logprobs = content.release(text, finish is not None, stops.stopped) if content is not None else []
            yield ChoiceDelta(index, text, len(output.token_ids), logprobs, finish, output.cached_tokens)
            if finish is not None:
                return

    async def _outputs(self, request: EngineRequest, pinned: bool = False) -> AsyncIterator[EngineOutput]:
        """The request's engine outputs. If its TE is lost before the first token, the request is sent once more,
        to another ready TE when there is one (nothing was shown to the client yet); after it, the 503 stands."""
        outputs = (
            self.disaggregated.outputs(request, pinned)
            if self.disaggregated is not None
            else self.group.generate(request, pinned)
        )
        async for output in outputs:
            yield output
