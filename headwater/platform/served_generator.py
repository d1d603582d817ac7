"""A `Generator` over a model this gateway serves, for the platform's own services.

Moderation, judging and red-teaming take any `Generator` in the libraries. On the platform their model is a served
one, so its prompts go through the same admission, job rows, footprint and task executors as an API request, only
without HTTP, keys or a second copy of the weights. `Generator.generate` is synchronous (the library calls are), so
it runs in a worker thread and hands each prompt to the gateway's event loop.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Sequence
from concurrent.futures import CancelledError, Future
from typing import TYPE_CHECKING

from headwater.engine.protocol import SamplingParams
from headwater.models.generator import Generation, GenerationParams, Prompt
from headwater.platform.runs import Run
from headwater.platform.serving import GenerationPlan

if TYPE_CHECKING:
    from headwater.platform.app import Gateway


class GenerationCancelled(Exception):
    """`ServedGenerator.cancel` was called: the generation in progress and every later one stop (a cancelled job's
    stage ends at once). Not a `HeadwaterError`: no stage may take it for a failure to report and carry on after."""


class ServedGenerator:
    """Generates with the served model `model_name`, accounted to `tenant` (job kind `kind`). With `fit_window`,
    `max_tokens` is a ceiling cut to what the context window leaves after the prompt (a job's long judge prompt
    gets a shorter reply instead of a 400); without it, a budget that does not fit is a 400 as for a request.
    `cancel()` stops it from any thread (its requests leave the TEs as a client that went away does)."""

    def __init__(
        self, gateway: Gateway, model_name: str, tenant: str, kind: str = "service", fit_window: bool = False
    ) -> None:
        gateway.model(model_name, tenant)  # a 404 naming the tenant's served models, before any work starts
        self.gateway = gateway
        self.model_name = model_name
        self.tenant = tenant
        self.kind = kind
        self.fit_window = fit_window
        self.name = model_name
        self.loop = asyncio.get_running_loop()
        self._lock = threading.Lock()
        self._in_flight: set[Future[Generation]] = set()
        self._cancelled = False

    def cancel(self) -> None:
        """From any thread: the `generate` call in progress raises `GenerationCancelled` at once (its prompts'
        requests are cancelled), and so does every later call."""
        with self._lock:
            self._cancelled = True
            in_flight = list(self._in_flight)
        for future in in_flight:
            future.cancel()

    def generate(self, prompts: Sequence[Prompt], params: GenerationParams | None = None) -> list[Generation]:
        """From a worker thread: every prompt at once on the gateway's loop (the TEs batch them), in order."""
        settings = params or GenerationParams()
        with self._lock:
            if self._cancelled:
                raise GenerationCancelled(f"generation with {self.model_name} was cancelled")
            futures = [
                asyncio.run_coroutine_threadsafe(self.agenerate(prompt, settings), self.loop) for prompt in prompts
            ]
            self._in_flight.update(futures)
        try:
            return [future.result() for future in futures]
        except CancelledError:
            if self._cancelled:
                raise GenerationCancelled(f"generation with {self.model_name} was cancelled") from None
            raise
        finally:
            for future in futures:
                future.cancel()
            with self._lock:
                self._in_flight.difference_update(futures)

    async def agenerate(self, prompt: Prompt, params: GenerationParams) -> Generation:
        """One prompt, on the gateway's loop: tokenised, budgeted and run like a chat or completion request."""
        model = self.gateway.model(self.model_name, self.tenant)
        ids = await (model.encode_text(prompt) if isinstance(prompt, str) else model.encode_chat(list(prompt)))
        if self.fit_window:
            budget = model.completion_budget(len(ids), None, params.max_tokens, "max_tokens")
        else:
            budget = model.completion_budget(
                len(ids), params.max_tokens, self.gateway.settings.default_max_tokens, "max_tokens"
            )
        sampling = SamplingParams(temperature=params.temperature, top_p=params.top_p, seed=params.seed)
        plan = GenerationPlan(uuid.uuid4().hex, [ids], [budget], 1, sampling, list(params.stop), False, self.tenant)
        run = await Run.begin(self.gateway.services, self.tenant, self.kind, model, plan)
        parts: list[str] = []
        finish = "stop"
        async for delta in run.deltas():
            parts.append(delta.text)
            finish = delta.finish_reason or finish
        return Generation("".join(parts), finish, len(ids), run.completion_tokens)
