"""The one typed way for a route to reach the gateway's shared state."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from starlette.requests import HTTPConnection

if TYPE_CHECKING:
    from headwater.platform.app import Gateway


def gateway_of(connection: HTTPConnection) -> Gateway:
    """The Gateway that serves this request (set on the app when it is built)."""
    return cast("Gateway", connection.app.state.gateway)
