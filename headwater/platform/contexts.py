"""Cached contexts by id (DeepFlow's MatchByID, an explicit context-caching endpoint).

A tenant registers a long prefix once (`POST /v1/contexts`); later chat and completion requests name it by
`context_id` and start with its tokens. The gateway keeps the context's tokens until its TTL passes; the KV itself
lives in the TE that prefilled it, pinned there for the TTL (tenant-salted like every prefix, see
`headwater.engine.prefix_cache`), and a request naming the context is routed to the TE holding the longest prefix
of it whatever the model's policy. An
id is visible to its own tenant only: another tenant's id is a 404, as an unknown or expired one.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from headwater.errors import NotFoundError


@dataclass(frozen=True)
class CachedContext:
    """One registered context: its tokens, and the messages they render when it was made from a conversation."""

    id: str
    tenant: str
    model: str
    prompt_ids: list[int]
    messages: list[dict[str, object]] | None
    created: float
    expires_at: float

    def to_openai(self) -> dict[str, object]:
        return {
            "id": self.id,
            "object": "context",
            "model": self.model,
            "created": int(self.created),
            "expires_at": int(self.expires_at),
            "tokens": len(self.prompt_ids),
            "kind": "messages" if self.messages is not None else "prompt",
        }


class ContextStore:
    """The gateway's contexts, by id; expired ones are dropped as they are met."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._contexts: dict[str, CachedContext] = {}

    def add(
        self, tenant: str, model: str, prompt_ids: list[int], messages: list[dict[str, object]] | None, ttl_s: float
    ) -> CachedContext:
        now = self._clock()
        context = CachedContext(f"ctx-{secrets.token_hex(12)}", tenant, model, prompt_ids, messages, now, now + ttl_s)
        self._contexts[context.id] = context
        return context

    def get(self, tenant: str, context_id: str) -> CachedContext:
        """The tenant's live context `context_id`, else a 404 naming it (another tenant's id is not told apart)."""
        self._sweep()
        context = self._contexts.get(context_id)
        if context is None or context.tenant != tenant:
            raise NotFoundError(
                f"context {context_id!r} does not exist or has expired; create one with POST /v1/contexts",
                param="context_id",
            )
        return context

    def list(self, tenant: str) -> list[CachedContext]:
        self._sweep()
        return sorted((c for c in self._contexts.values() if c.tenant == tenant), key=lambda c: c.created)

    def delete(self, tenant: str, context_id: str) -> CachedContext:
        context = self.get(tenant, context_id)
        del self._contexts[context_id]
        return context

    def __len__(self) -> int:
        self._sweep()
        return len(self._contexts)

    def _sweep(self) -> None:
        now = self._clock()
        for context_id in [key for key, context in self._contexts.items() if context.expires_at <= now]:
            del self._contexts[context_id]
