"""API-key authentication: `Authorization: Bearer KEY` → the tenant that owns the key."""

from __future__ import annotations

import asyncio

from fastapi import Request, Response

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


async def optional_tenant(request: Request) -> str | None:
    """The caller's tenant when it sends a key (401 when the key is wrong), None when it sends none.

    For the operational routes (/health, /metrics) that load balancers and scrapers call without a key: they answer
    everyone, and what they show depends on who asks."""
    if gateway_of(request).settings.auth and not request.headers.get("authorization"):
        return None
    return await authenticate(request)


async def authenticate_admin(request: Request) -> str:
    """FastAPI dependency: like `authenticate`, and 403 unless the key is the admin tenant's (or auth is off)."""
    tenant = await authenticate(request)
    if gateway_of(request).settings.auth and tenant != ADMIN_TENANT:
        raise ForbiddenError(f"this route is for admin keys (tenant {ADMIN_TENANT!r}); tenant {tenant!r} may not")
    return tenant


class KeyLogin:
    """A browser login with an API key, for the web apps (annotation, dashboard).

    The key goes into an HttpOnly, SameSite=Strict cookie scoped to `path`: the page's own requests carry it,
    page scripts cannot read it and other sites' requests do not send it. Scripts may send `Authorization: Bearer
    KEY` instead. With auth off (`--no-auth`) any non-empty key is accepted and names the caller."""

    def __init__(self, cookie: str, path: str, page: str) -> None:
        self.cookie = cookie
        self.path = path
        self.page = page

    async def tenant_for(self, request: Request, key: str) -> str:
        """The tenant `key` logs in as, or 401."""
        gateway = gateway_of(request)
        if not gateway.settings.auth:
            return key.strip()[:64]
        tenant = await asyncio.to_thread(gateway.store.tenant_for_key, key.strip())
        if tenant is None:
            raise AuthenticationError(
                "invalid or revoked API key; ask your admin for one (`headwater keys create NAME`)"
            )
        return tenant

    async def caller(self, request: Request) -> str:
        """The logged-in tenant, from the session cookie or a Bearer key; 401 when there is neither."""
        scheme, _, bearer = request.headers.get("authorization", "").partition(" ")
        key = bearer if scheme.lower() == "bearer" and bearer.strip() else request.cookies.get(self.cookie, "")
        if not key:
            raise AuthenticationError(f"not logged in: open {self.page} and log in with your API key")
        return await self.tenant_for(request, key)

    def remember(self, response: Response, key: str) -> None:
        response.set_cookie(self.cookie, key.strip(), httponly=True, samesite="strict", path=self.path)

    def forget(self, response: Response) -> None:
        response.delete_cookie(self.cookie, path=self.path)
