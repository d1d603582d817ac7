"""Idempotency keys on creates: a client that retries a create (its connection dropped before the answer) with the
same `Idempotency-Key` and the same body gets the object the first call made, not a second one; the same key with
a different body is a client bug and gets HTTP 409 saying so.

Keys are per tenant and per kind of object (`file`, `batch`, `finetune`…), and stored in the same transaction as
the object they name, so a failed create leaves no key behind.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime

from sqlalchemy import DateTime, String
from sqlalchemy.orm import Mapped, Session, mapped_column

from headwater.errors import ConflictError, InvalidRequestError
from headwater.platform.store import Store, _Base, _now

MAX_KEY_LENGTH = 200


class IdempotencyRow(_Base):
    __tablename__ = "idempotency_keys"
    tenant_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    scope: Mapped[str] = mapped_column(String(32), primary_key=True)
    key: Mapped[str] = mapped_column(String(MAX_KEY_LENGTH), primary_key=True)
    body_hash: Mapped[str] = mapped_column(String(64))
    object_id: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)


def body_hash(body: object) -> str:
    """A stable hash of a JSON-able body (keys sorted, so field order does not matter)."""
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


class Idempotency:
    """Look up and record idempotency keys inside a caller's transaction."""

    def __init__(self, store: Store) -> None:
        _Base.metadata.create_all(store.engine, tables=[_Base.metadata.tables["idempotency_keys"]])

    def claim(self, session: Session, tenant: str, scope: str, key: str | None, body: object) -> str | None:
        """The id of the object this key already made with this body, or None for a new key (or no key).
        The same key with another body raises ConflictError (409)."""
        if key is None:
            return None
        if not key or len(key) > MAX_KEY_LENGTH:
            raise InvalidRequestError(
                f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} characters", param="Idempotency-Key"
            )
        digest = body_hash(body)
        row = session.get(IdempotencyRow, (tenant, scope, key))
        if row is None:
            return None
        if row.body_hash != digest:
            raise ConflictError(
                f"Idempotency-Key {key!r} was already used for another {scope} request with a different body "
                f"(it made {row.object_id}); send the same body to get that object again, or use a new key",
                param="Idempotency-Key",
            )
        return row.object_id

    def bind(self, session: Session, tenant: str, scope: str, key: str | None, body: object, object_id: str) -> None:
        """Record that `key` made `object_id` from `body` (after `claim` returned None, in the same transaction)."""
        if key is not None:
            session.add(
                IdempotencyRow(tenant_id=tenant, scope=scope, key=key, body_hash=body_hash(body), object_id=object_id)
            )
