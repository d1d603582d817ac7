"""`headwater chat`: an interactive terminal chat against a running server, streamed and rendered with rich."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console
from rich.live import Live
from rich.markdown import Markdown
from rich.prompt import Prompt

from headwater.errors import HeadwaterError
from headwater.models.generator import GenerationParams
from headwater.models.openai_generator import OpenAIGenerator, default_api_key

out = Console()
err = Console(stderr=True)
HELP = "commands: /reset clears the conversation, /system TEXT sets the system prompt, /exit quits"


def _first_model(client: OpenAIGenerator) -> str:
    response = client._client.get("/models")
    if response.status_code >= 400:
        raise HeadwaterError(f"cannot list models: HTTP {response.status_code} {response.text[:200]}")
    models = response.json().get("data", [])
    if not models:
        raise HeadwaterError("the server serves no model")
    return models[0]["id"]


def _answer(client: OpenAIGenerator, messages: list[dict[str, str]], params: GenerationParams) -> str:
    """Stream the reply: rendered as Markdown live on a terminal, as plain text when piped."""
    if not out.is_terminal:
        reply = ""
        for delta in client.stream_chat(messages, params):
            reply += delta
            out.file.write(delta)
            out.file.flush()
        out.file.write("\n")
        return reply
    reply = ""
    with Live(Markdown(""), console=out, refresh_per_second=12, vertical_overflow="visible") as live:
        for delta in client.stream_chat(messages, params):
            reply += delta
            live.update(Markdown(reply))
    return reply


def chat(
    model: Annotated[str | None, typer.Option(help="Model name (default: the server's first model).")] = None,
    base_url: Annotated[str, typer.Option(help="OpenAI-compatible base URL.")] = "http://127.0.0.1:8000/v1",
    api_key: Annotated[
        str | None, typer.Option(help="API key (default: HEADWATER_API_KEY, then OPENAI_API_KEY).")
    ] = None,
    system: Annotated[str | None, typer.Option(help="System prompt.")] = None,
    message: Annotated[
        str | None, typer.Option("--message", "-m", help="Ask one question, print the answer and exit.")
    ] = None,
    max_tokens: Annotated[int, typer.Option(help="Most tokens per answer.")] = 512,
    temperature: Annotated[float, typer.Option(help="0 is greedy.")] = 0.7,
    as_json: Annotated[bool, typer.Option("--json", help="With --message: print one JSON object.")] = False,
) -> None:
    """Chat with a model served by `headwater up` / `headwater serve` (or any OpenAI-compatible server)."""
    client = OpenAIGenerator(model or "", base_url, api_key or default_api_key(), max_retries=1)
    params = GenerationParams(max_tokens=max_tokens, temperature=temperature)
    messages: list[dict[str, str]] = [{"role": "system", "content": system}] if system else []
    try:
        client.model = client.name = model or _first_model(client)
        if message is not None:
            messages.append({"role": "user", "content": message})
            if as_json:
                result = client.generate([messages], params)[0]
                print(
                    json.dumps(
                        {
                            "model": client.model,
                            "content": result.text,
                            "finish_reason": result.finish_reason,
                            "usage": {
                                "prompt_tokens": result.prompt_tokens,
                                "completion_tokens": result.completion_tokens,
                            },
                        }
                    )
                )
            else:
                _answer(client, messages, params)
            return
        _loop(client, messages, params, system)
    except HeadwaterError as error:
        err.print(f"[red]error:[/] {error.message}")
        raise typer.Exit(1) from None
    finally:
        client.close()


def _loop(
    client: OpenAIGenerator, messages: list[dict[str, str]], params: GenerationParams, system: str | None
) -> None:
    err.print(f"[dim]chatting with {client.model} — {HELP}[/]")
    while True:
        try:
            text = Prompt.ask("[bold cyan]you[/]", console=out)
        except (EOFError, KeyboardInterrupt):
            return
        if text.strip() == "/exit":
            return
        if text.strip() == "/reset":
            messages[:] = [{"role": "system", "content": system}] if system else []
            continue
        if text.startswith("/system "):
            system = text[len("/system ") :]
            messages[:] = [m for m in messages if m["role"] != "system"]
            messages.insert(0, {"role": "system", "content": system})
            continue
        messages.append({"role": "user", "content": text})
        try:
            messages.append({"role": "assistant", "content": _answer(client, messages, params)})
        except KeyboardInterrupt:
            messages.pop()
            err.print("[dim](interrupted)[/]")
