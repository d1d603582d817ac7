"""API-key authentication: `Authorization: Bearer KEY` → the tenant that owns the key."""

from __future__ import annotations

import asyncio

from fastapi import Request

from headwater.errors import AuthenticationError, ForbiddenError
from headwater.platform.state import gateway_of

ANONYMOUS_TENANT = "default"
ADMIN_TENANT = "admin"
"""The tenant whose keys may administer the platform: annotation sets, the model catalogue."""


async def authenticate(request: Request) -> str:
    """FastAPI dependency: the caller's tenant, or HTTP 401 naming what is wrong with the key."""
    gateway = gateway_of(request)
    if not gateway.settings.auth:
        return ANONYMOUS_TENANT
    header = request.headers.get("authorization", "")
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise AuthenticationError(
            "missing API key: send `Authorization: Bearer KEY` (create one with `headwater keys create`)"
        )
    tenant = await asyncio.to_thread(gateway.store.tenant_for_key, key.strip())
    if tenant is None:
        raise AuthenticationError("invalid or revoked API key; `headwater keys list` shows the live ones")
    return tenant


async def authenticate_admin(request: Request) -> str:
    """FastAPI dependency: like `authenticate`, and 403 unless the key is the admin tenant's (or auth is off)."""
    tenant = await authenticate(request)
    if gateway_of(request).settings.auth and tenant != ADMIN_TENANT:
        raise ForbiddenError(f"this route is for admin keys (tenant {ADMIN_TENANT!r}); tenant {tenant!r} may not")
    return tenant
