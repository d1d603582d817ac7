"""`OpenAIGenerator`: a Generator on any OpenAI-compatible HTTP endpoint (ours, vLLM, a hosted API).

Requests run `concurrency` at a time on a thread pool; transient failures (connection errors, timeouts, 429,
5xx) are retried with exponential backoff and jitter, honouring `Retry-After`; other 4xx fail at once with the
server's message.
"""

from __future__ import annotations

import json
import os
import random
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor

import httpx

from headwater.errors import HeadwaterError, InvalidRequestError
from headwater.models.generator import Generation, GenerationParams, Prompt

RETRYABLE_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504})


class GenerationError(HeadwaterError):
    """The endpoint could not produce the generation: `GenerationRefused` or `GenerationFailed` say which."""

    status_code = 502
    error_type = "upstream_error"


class GenerationRefused(GenerationError):
    """The endpoint answered with a 4xx that no retry changes (wrong key, unknown model, bad field): the caller's
    input is at fault."""

    status_code = 400
    error_type = "invalid_request_error"


class GenerationFailed(GenerationError):
    """The endpoint could not be reached or kept failing (5xx, 429, timeouts) through every retry."""


def default_api_key() -> str | None:
    """HEADWATER_API_KEY, then OPENAI_API_KEY."""
    return os.environ.get("HEADWATER_API_KEY") or os.environ.get("OPENAI_API_KEY")


def _retry_after(response: httpx.Response | None, attempt: int, backoff_s: float) -> float:
    header = response.headers.get("retry-after") if response is not None else None
    if header is not None:
        try:
            return min(60.0, float(header))
        except ValueError:
            pass
    return backoff_s * (2**attempt) * (0.5 + random.random())


def _error_message(response: httpx.Response) -> str:
    try:
        return str(response.json()["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return response.text[:500]


class OpenAIGenerator:
    """Chat prompts go to /chat/completions, text prompts to /completions."""

    def __init__(
        self,
        model: str,
        base_url: str = "http://127.0.0.1:8000/v1",
        api_key: str | None = None,
        *,
        concurrency: int = 8,
        timeout_s: float = 120.0,
        max_retries: int = 4,
        backoff_s: float = 0.5,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if concurrency < 1:
            raise InvalidRequestError(f"concurrency must be at least 1, got {concurrency}")
        self.name = model
        self.model = model
        self.concurrency = concurrency
        self.max_retries = max_retries
        self.backoff_s = backoff_s
        key = api_key if api_key is not None else default_api_key()
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self._client = httpx.Client(
            base_url=base_url.rstrip("/"),
            headers=headers,
            timeout=timeout_s,
            transport=transport,
            limits=httpx.Limits(max_connections=concurrency),
        )

    def close(self) -> None:
        self._client.close()

    def _body(self, prompt: Prompt, params: GenerationParams) -> tuple[str, dict[str, object]]:
        body: dict[str, object] = {
            "model": self.model,
            "max_tokens": params.max_tokens,
            "temperature": params.temperature,
            "top_p": params.top_p,
        }
        if params.stop:
            body["stop"] = list(params.stop)
        if params.seed is not None:
            body["seed"] = params.seed
        if isinstance(prompt, str):
            return "/completions", {**body, "prompt": prompt}
        return "/chat/completions", {**body, "messages": prompt}

    def _endpoint(self, path: str) -> str:
        return str(self._client.base_url).rstrip("/") + path

    def _post(self, path: str, body: dict[str, object]) -> dict:
        for attempt in range(self.max_retries + 1):
            response: httpx.Response | None = None
            try:
                response = self._client.post(path, json=body)
            except httpx.TransportError as error:
                failure = f"{type(error).__name__}: {error}"
            else:
                if response.status_code < 400:
                    return response.json()
                failure = f"HTTP {response.status_code}: {_error_message(response)}"
                if response.status_code not in RETRYABLE_STATUS:
                    raise GenerationRefused(f"{self._endpoint(path)} refused the request: {failure}")
            if attempt < self.max_retries:
                time.sleep(_retry_after(response, attempt, self.backoff_s))
        raise GenerationFailed(f"{self._endpoint(path)} failed {self.max_retries + 1} times; last: {failure}")

    def _generate_one(self, prompt: Prompt, params: GenerationParams) -> Generation:
        path, body = self._body(prompt, params)
        data = self._post(path, body)
        choice = data["choices"][0]
        text = choice["text"] if path == "/completions" else (choice["message"].get("content") or "")
        usage = data.get("usage") or {}
        return Generation(
            text,
            choice.get("finish_reason") or "stop",
            int(usage.get("prompt_tokens", 0)),
            int(usage.get("completion_tokens", 0)),
        )

    def generate(self, prompts: Sequence[Prompt], params: GenerationParams | None = None) -> list[Generation]:
        params = params or GenerationParams()
        if len(prompts) <= 1 or self.concurrency == 1:
            return [self._generate_one(prompt, params) for prompt in prompts]
        with ThreadPoolExecutor(max_workers=min(self.concurrency, len(prompts))) as pool:
            return list(pool.map(lambda prompt: self._generate_one(prompt, params), prompts))

    def stream_chat(self, messages: list[dict[str, str]], params: GenerationParams | None = None) -> Iterator[str]:
        """Text deltas of one streamed chat completion (used by `headwater chat`)."""
        _path, body = self._body(messages, params or GenerationParams())
        with self._client.stream("POST", "/chat/completions", json={**body, "stream": True}) as response:
            if response.status_code >= 400:
                response.read()
                failure = f"HTTP {response.status_code}: {_error_message(response)}"
                if response.status_code in RETRYABLE_STATUS:
                    raise GenerationFailed(failure)
                raise GenerationRefused(failure)
            for line in response.iter_lines():
                if not line.startswith("data: ") or line == "data: [DONE]":
                    continue
                chunk = json.loads(line[len("data: ") :])
                if "error" in chunk:
                    raise GenerationFailed(str(chunk["error"].get("message")))
                for choice in chunk.get("choices", []):
                    content = choice.get("delta", {}).get("content")
                    if content:
                        yield content
