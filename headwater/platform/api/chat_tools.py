"""The tool fields of a chat request: checked and resolved before any engine sees it, and the reply's calls
split from its text, whole or as it streams (see `headwater.platform.tools`)."""

from __future__ import annotations

from dataclasses import replace

from headwater.engine.grammar import grammar_error
from headwater.errors import InvalidRequestError
from headwater.platform.api.schemas import ChatCompletionRequest, NamedToolChoice
from headwater.platform.serving import ChoiceDelta
from headwater.platform.tools import ToolCall, ToolCallParser, ToolUse, call_grammar


def resolve_tool_use(body: ChatCompletionRequest) -> ToolUse | None:
    """The request's tool use, or None when no tool may be called (no tools, or `tool_choice: "none"`)."""
    choice = body.tool_choice
    if not body.tools:
        if choice is not None and choice not in ("none", "auto"):
            raise InvalidRequestError("tool_choice needs tools: give the functions in tools", param="tool_choice")
        return None
    if choice == "none":
        return None
    tools = [tool.model_dump(exclude_none=True) for tool in body.tools]
    names = [tool.function.name for tool in body.tools]
    if len(set(names)) != len(names):
        raise InvalidRequestError("tools: two functions have the same name; names must be unique", param="tools")
    if isinstance(choice, NamedToolChoice):
        if choice.function.name not in names:
            raise InvalidRequestError(
                f"tool_choice names {choice.function.name!r}, which is not in tools ({', '.join(names)})",
                param="tool_choice.function.name",
            )
        use = ToolUse(tools, choice.function.name)
    else:
        use = ToolUse(tools, choice or "auto")
    _check_schemas(use)
    return use


def _check_schemas(use: ToolUse) -> None:
    """Every function's parameters must be a schema the grammar compiler follows (enforced or not)."""
    for function in use.functions:
        problem = grammar_error(call_grammar([function]))  # the grammar that forces a call of this function
        if problem is not None:
            raise InvalidRequestError(
                f"tools: the parameters of {function['name']!r} cannot be enforced: {problem}", param="tools"
            )


class ChoiceToolCalls:
    """Splits each choice's deltas into text and tool calls; a choice that called a tool finishes `tool_calls`."""

    def __init__(self, use: ToolUse) -> None:
        self.use = use
        self._parsers: dict[int, ToolCallParser] = {}

    def split(self, delta: ChoiceDelta) -> tuple[ChoiceDelta, list[ToolCall]]:
        parser = self._parsers.setdefault(delta.index, ToolCallParser(self.use.names))
        text, calls = parser.feed(delta.text)
        finish = delta.finish_reason
        if finish is not None:
            rest, more = parser.finish()
            text, calls = text + rest, calls + more
            if parser.calls and finish == "stop":
                finish = "tool_calls"
        return replace(delta, text=text, finish_reason=finish), calls

    def count(self, index: int) -> int:
        """Calls released so far for choice `index` (the next call's position in its `tool_calls`)."""
        parser = self._parsers.get(index)
        return len(parser.calls) if parser is not None else 0
