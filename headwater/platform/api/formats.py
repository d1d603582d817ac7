"""OpenAI wire shapes for chat and text completions, whole and as stream chunks."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Literal

import msgspec

from headwater.platform.logprobs import TokenLogprob
from headwater.platform.serving import ChoiceDelta
from headwater.platform.tools import ToolCall

Kind = Literal["chat", "completion"]


@dataclass
class Choice:
    """A choice assembled from its deltas (for non-streaming responses)."""

    index: int
    text: str = ""
    logprobs: list[TokenLogprob] = field(default_factory=list)
    finish_reason: str | None = None
    tool_calls: list[ToolCall] = field(default_factory=list)

    def add(self, delta: ChoiceDelta, tool_calls: list[ToolCall] | None = None) -> None:
        self.text += delta.text
        self.logprobs.extend(delta.logprobs)
        self.finish_reason = delta.finish_reason or self.finish_reason
        self.tool_calls.extend(tool_calls or [])

    def message(self) -> dict[str, object]:
        """The assistant message: content is null when the reply is only tool calls, as OpenAI sends it."""
        if not self.tool_calls:
            return {"role": "assistant", "content": self.text}
        calls = [call.to_openai() for call in self.tool_calls]
        return {"role": "assistant", "content": self.text if self.text.strip() else None, "tool_calls": calls}


def usage(prompt_tokens: int, completion_tokens: int, cached_tokens: int = 0) -> dict[str, object]:
    """OpenAI's usage object; `cached_tokens` are the prompt tokens whose KV was reused (0 when none)."""
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
        "prompt_tokens_details": {"cached_tokens": cached_tokens},
    }


def _chat_logprobs(logprobs: list[TokenLogprob]) -> dict[str, list[dict[str, object]]]:
    return {
        "content": [
            {
                "token": item.token,
                "logprob": item.logprob,
                "bytes": list(item.bytes),
                "top_logprobs": [
                    {"token": top.token, "logprob": top.logprob, "bytes": list(top.bytes)} for top in item.top
                ],
            }
            for item in logprobs
        ]
    }


def _text_logprobs(logprobs: list[TokenLogprob], start_offset: int) -> dict[str, object]:
    offsets, offset = [], start_offset
    for item in logprobs:
        offsets.append(offset)
        offset += len(item.token)
    return {
        "tokens": [item.token for item in logprobs],
        "token_logprobs": [item.logprob for item in logprobs],
        "top_logprobs": [{top.token: top.logprob for top in item.top} for item in logprobs]
        if any(item.top for item in logprobs)
        else None,
        "text_offset": offsets,
    }


def _envelope(kind: Kind, request_id: str, model: str, chunk: bool) -> dict[str, object]:
    if kind == "chat":
        prefix, obj = "chatcmpl-", "chat.completion.chunk" if chunk else "chat.completion"
    else:
        prefix, obj = "cmpl-", "text_completion"
    return {"id": prefix + request_id, "object": obj, "created": int(time.time()), "model": model}


def full_response(
    kind: Kind, request_id: str, model: str, choices: list[Choice], usage_: dict[str, object], logprobs: bool
) -> dict[str, object]:
    """The whole response of a non-streaming request."""
    body = _envelope(kind, request_id, model, chunk=False)
    if kind == "chat":
        body["choices"] = [
            {
                "index": choice.index,
                "message": choice.message(),
                "logprobs": _chat_logprobs(choice.logprobs) if logprobs else None,
                "finish_reason": choice.finish_reason,
            }
            for choice in choices
        ]
    else:
        body["choices"] = [
            {
                "index": choice.index,
                "text": choice.text,
                "logprobs": _text_logprobs(choice.logprobs, 0) if logprobs else None,
                "finish_reason": choice.finish_reason,
            }
            for choice in choices
        ]
    body["usage"] = usage_
    return body


def stream_chunk(
    kind: Kind,
    request_id: str,
    model: str,
    delta: ChoiceDelta,
    logprobs: bool,
    text_offset: int = 0,
    tool_calls: list[dict[str, object]] | None = None,
) -> dict[str, object]:
    """One SSE chunk carrying one choice's delta (and, for chat, the tool calls it completed, with their index)."""
    body = _envelope(kind, request_id, model, chunk=True)
    if kind == "chat":
        content: dict[str, object] = {"content": delta.text} if delta.text or delta.finish_reason is None else {}
        choice: dict[str, object] = {
            "index": delta.index,
            "delta": {**content, "tool_calls": tool_calls} if tool_calls else content,
            "logprobs": _chat_logprobs(delta.logprobs) if logprobs else None,
            "finish_reason": delta.finish_reason,
        }
    else:
        choice = {
            "index": delta.index,
            "text": delta.text,
            "logprobs": _text_logprobs(delta.logprobs, text_offset) if logprobs else None,
            "finish_reason": delta.finish_reason,
        }
    body["choices"] = [choice]
    return body


def role_chunk(request_id: str, model: str, index: int) -> dict[str, object]:
    """The first chat chunk of a choice, announcing the assistant role (as OpenAI sends it)."""
    body = _envelope("chat", request_id, model, chunk=True)
    body["choices"] = [
        {"index": index, "delta": {"role": "assistant", "content": ""}, "logprobs": None, "finish_reason": None}
    ]
    return body


def usage_chunk(kind: Kind, request_id: str, model: str, usage_: dict[str, object]) -> dict[str, object]:
    body = _envelope(kind, request_id, model, chunk=True)
    body["choices"] = []
    body["usage"] = usage_
    return body


_json = msgspec.json.Encoder()


def sse(payload: dict[str, object] | str) -> bytes:
    """One server-sent event line. msgspec encodes a chunk in a tenth of `json.dumps`'s time, and one is sent per
    token; its JSON is compact UTF-8 (non-ASCII text unescaped), and a non-finite float is `null`, not the invalid
    `NaN` that `json.dumps` writes."""
    data = payload.encode() if isinstance(payload, str) else _json.encode(payload)
    return b"data: " + data + b"\n\n"
