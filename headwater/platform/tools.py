"""Tool calls in OpenAI's shape over any chat model: tools into the prompt, calls out of the reply.

Tools reach the model through its own chat template when the template renders them (`tools` appears in it:
Qwen 2.5/3, Hermes, SmolLM3, Llama 3.1, …); otherwise a system message lists them in the Hermes format those
models share. Either way the model is asked to answer a call as `<tool_call>{"name": …, "arguments": {…}}
</tool_call>`, which `ToolCallParser` turns into `message.tool_calls` (also streamed). With `tool_choice`
`required` or a named function, the reply is constrained by a grammar built from the tools' parameter schemas
(one call), so its arguments always validate. This is vLLM's `hermes` tool parser's contract, written anew.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

CALL_OPEN = "<tool_call>"
CALL_CLOSE = "</tool_call>"
_INSTRUCTIONS = (
    "You may call functions to answer. The functions, as JSON schemas:\n<tools>\n{tools}\n</tools>\n"
    "To call a function, reply with one line per call:\n"
    '<tool_call>\n{{"name": "<function name>", "arguments": <arguments as a JSON object>}}\n</tool_call>\n'
    "and nothing else. If no function is needed, answer normally."
)


@dataclass(frozen=True)
class ToolCall:
    """A parsed call: its id, the function's name and its arguments as a JSON string (OpenAI's shape)."""

    id: str
    name: str
    arguments: str

    def to_openai(self, index: int | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": self.id,
            "type": "function",
            "function": {"name": self.name, "arguments": self.arguments},
        }
        return body if index is None else {"index": index, **body}


@dataclass(frozen=True)
class ToolUse:
    """The tools of a request and how they may be used: `auto`, `required`, or the name of the one to call."""

    tools: list[dict[str, Any]]
    choice: str

    @property
    def functions(self) -> list[dict[str, Any]]:
        return [tool["function"] for tool in self.tools]

    @property
    def names(self) -> set[str]:
        return {function["name"] for function in self.functions}

    def grammar(self) -> str | None:
        """The grammar that enforces a call (`required` or a named function); None when the model may answer."""
        if self.choice == "auto":
            return None
        if self.choice == "required":
            return call_grammar(self.functions)
        return call_grammar([function for function in self.functions if function["name"] == self.choice])


def prepare_messages(
    messages: list[dict[str, Any]], native: bool, tools: list[dict[str, Any]] | None = None
) -> list[dict[str, Any]]:
    """The conversation for the chat template: earlier calls and tool results in the form the template reads,
    and, when `tools` are offered to a template that cannot render them, a system message that lists them."""
    prepared = [_for_template(message, native) for message in messages]
    if native or not tools:
        return prepared
    instructions = tools_system_message(tools)
    if prepared and prepared[0]["role"] in ("system", "developer"):
        first = prepared[0]
        return [{**first, "content": f"{first['content']}\n\n{instructions}"}, *prepared[1:]]
    return [{"role": "system", "content": instructions}, *prepared]


def _for_template(message: dict[str, Any], native: bool) -> dict[str, Any]:
    calls = message.get("tool_calls") or []
    text = message.get("content") or ""
    if message["role"] == "assistant" and calls:
        if native:
            template_calls = [
                {"id": call["id"], "type": "function", "function": {**call["function"], "arguments": _as_json(call)}}
                for call in calls
            ]
            return {"role": "assistant", "content": text, "tool_calls": template_calls}
        written = "\n".join(call_as_text(call["function"]["name"], call["function"]["arguments"]) for call in calls)
        return {"role": "assistant", "content": f"{text}\n{written}" if text else written}
    if message["role"] == "tool" and native and message.get("tool_call_id"):
        return {"role": "tool", "content": text, "tool_call_id": message["tool_call_id"]}
    return {"role": message["role"], "content": text}


def _as_json(call: dict[str, Any]) -> object:
    try:
        return json.loads(call["function"]["arguments"] or "{}")
    except json.JSONDecodeError:
        return call["function"]["arguments"]


def new_call_id() -> str:
    return "call_" + uuid.uuid4().hex[:24]


def template_renders_tools(chat_template: str | None) -> bool:
    """Whether a chat template uses the `tools` it is given (else they are listed in a system message)."""
    return chat_template is not None and "tools" in chat_template


def tools_system_message(tools: list[dict[str, Any]]) -> str:
    """The system-message text that lists the tools for a template that cannot render them."""
    return _INSTRUCTIONS.format(tools="\n".join(json.dumps(tool, ensure_ascii=False) for tool in tools))


def call_as_text(name: str, arguments: str) -> str:
    """An earlier assistant call, written back into the conversation as the model would have written it."""
    try:
        parsed: object = json.loads(arguments or "{}")
    except json.JSONDecodeError:
        parsed = arguments
    return f"{CALL_OPEN}\n{json.dumps({'name': name, 'arguments': parsed}, ensure_ascii=False)}\n{CALL_CLOSE}"


def call_grammar(functions: list[dict[str, Any]]) -> str:
    """A Lark grammar (llguidance) for exactly one call of one of `functions` with arguments that validate."""
    options = [
        {
            "type": "object",
            "properties": {
                "name": {"const": function["name"]},
                "arguments": function.get("parameters") or {"type": "object"},
            },
            "required": ["name", "arguments"],
            "additionalProperties": False,
        }
        for function in functions
    ]
    schema = options[0] if len(options) == 1 else {"anyOf": options}
    schema = {**schema, "x-guidance": {"whitespace_flexible": False}}  # compact JSON, as for response_format
    return f'start: "{CALL_OPEN}\\n" call "\\n{CALL_CLOSE}"\ncall: %json {json.dumps(schema)}'


class ToolCallParser:
    """Splits a reply, fed as it streams, into content text and tool calls.

    Text that could be the start of `<tool_call>` is held back until it is clearly not; a call is released when
    its closing tag arrives (or at the end, for a model that stops without closing). A block whose JSON does not
    parse, or that names an unknown function, stays content: nothing the model wrote is lost."""

    def __init__(self, tool_names: set[str]) -> None:
        self.tool_names = tool_names
        self.calls: list[ToolCall] = []
        self._held = ""
        self._in_call = False

    def feed(self, text: str) -> tuple[str, list[ToolCall]]:
        """Content safe to emit now, and the calls completed by `text`."""
        self._held += text
        content, calls = "", list[ToolCall]()
        while True:
            if self._in_call:
                end = self._held.find(CALL_CLOSE)
                if end < 0:
                    return content, calls
                block, self._held = self._held[:end], self._held[end + len(CALL_CLOSE) :]
                self._in_call = False
                content += self._take(block, calls, closed=True)
                continue
            start = self._held.find(CALL_OPEN)
            if start >= 0:
                content += self._held[:start]
                self._held = self._held[start + len(CALL_OPEN) :]
                self._in_call = True
                continue
            keep = _partial_prefix(self._held, CALL_OPEN)
            content += self._held[: len(self._held) - keep]
            self._held = self._held[len(self._held) - keep :]
            return content, calls

    def finish(self) -> tuple[str, list[ToolCall]]:
        """At the end of the reply: what is still held, as a call if it is one, else as content."""
        held, self._held = self._held, ""
        calls: list[ToolCall] = []
        content = self._take(held, calls, closed=False) if self._in_call else held
        self._in_call = False
        return content, calls

    def _take(self, block: str, calls: list[ToolCall], closed: bool) -> str:
        call = self._parse(block)
        if call is None:
            return CALL_OPEN + block + (CALL_CLOSE if closed else "")
        self.calls.append(call)
        calls.append(call)
        return ""

    def _parse(self, block: str) -> ToolCall | None:
        try:
            payload = json.loads(block)
        except json.JSONDecodeError:
            return None
        if not isinstance(payload, dict) or payload.get("name") not in self.tool_names:
            return None
        arguments = payload.get("arguments", payload.get("parameters", {}))
        text = arguments if isinstance(arguments, str) else json.dumps(arguments, ensure_ascii=False)
        return ToolCall(new_call_id(), payload["name"], text)


def _partial_prefix(text: str, marker: str) -> int:
    """Length of the longest end of `text` that is a proper start of `marker`."""
    for size in range(min(len(text), len(marker) - 1), 0, -1):
        if text.endswith(marker[:size]):
            return size
    return 0
