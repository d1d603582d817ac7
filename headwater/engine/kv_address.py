"""The address a prefill TE's KV server binds to (HEADWATER_KV_ADDRESS), parsed without torch: the settings check it
at start, and the CLI reads the settings without importing the engine."""

from __future__ import annotations


def parse_address(address: str) -> tuple[str, int]:
    """`HOST:PORT`, `HOST`, `:PORT` or `[V6]:PORT` as (host, port); an empty host or port stays "" or 0."""
    text = address.strip()
    host, port = text, ""
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = rest.removeprefix(":")
    elif text.count(":") == 1:
        host, _, port = text.partition(":")
    try:
        number = int(port) if port else 0
    except ValueError:
        raise ValueError(f"kv_address {address!r}: the port must be a number (HOST:PORT)") from None
    if not 0 <= number <= 65535:
        raise ValueError(f"kv_address {address!r}: the port must be in 0..65535")
    return host, number
