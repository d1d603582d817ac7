"""Structured outputs: OpenAI's `response_format` as a grammar the engine enforces token by token.

`json_object` gives any JSON object; `json_schema` gives JSON that validates against the schema (as with
OpenAI's `strict: true`, whatever `strict` says: a constrained decoder has no cheaper lenient mode). A schema the
grammar compiler cannot follow is a 400 naming the keyword, before any engine sees the request.
"""

from __future__ import annotations

from headwater.engine.grammar import grammar_error, json_object_grammar, json_schema_grammar
from headwater.errors import InvalidRequestError
from headwater.platform.api.schemas import ResponseFormat


def response_grammar(response_format: ResponseFormat | None) -> str | None:
    """The grammar `response_format` asks for, or None for free text."""
    if response_format is None or response_format.type == "text":
        return None
    if response_format.type == "json_object":
        return json_object_grammar()
    if response_format.json_schema is None:
        raise InvalidRequestError(
            'response_format.json_schema is required with type "json_schema": give {"name", "schema"}',
            param="response_format.json_schema",
        )
    param = "response_format.json_schema.schema"
    try:
        grammar = json_schema_grammar(response_format.json_schema.schema_)
    except ValueError as error:
        raise InvalidRequestError(f"{param} is not a JSON schema: {error}", param=param) from error
    problem = grammar_error(grammar)
    if problem is not None:
        raise InvalidRequestError(f"{param} cannot be enforced: {problem}", param=param)
    return grammar
