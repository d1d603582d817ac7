"""Admission control: a bounded number of requests in flight, overall and per tenant, refused with HTTP 429.

Bounding the queue at the gateway keeps latency predictable under overload: a request beyond the bound is told
to come back (`Retry-After`) instead of waiting behind thousands of others until its client times out.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

from headwater.errors import RateLimitError


class Admission:
    """Counts admitted requests; `admit` refuses once a bound is reached."""

    def __init__(self, max_total: int, max_per_tenant: int, retry_after_s: int = 1) -> None:
        self.max_total = max_total
        self.max_per_tenant = max_per_tenant
        self.retry_after_s = retry_after_s
        self.total = 0
        self.per_tenant: Counter[str] = Counter()

    @contextmanager
    def admit(self, tenant: str) -> Iterator[None]:
        """Hold one slot for the duration of the block."""
        self.acquire(tenant)
        try:
            yield
        finally:
            self.release(tenant)

    def acquire(self, tenant: str) -> None:
        """Take one slot or raise RateLimitError; pair with `release` (streams outlive a `with` block)."""
        if self.total >= self.max_total:
            raise RateLimitError(
                f"the server has {self.total} requests in flight (limit {self.max_total}); retry later",
                retry_after_s=self.retry_after_s,
            )
        if self.per_tenant[tenant] >= self.max_per_tenant:
            raise RateLimitError(
                f"tenant {tenant!r} has {self.per_tenant[tenant]} requests in flight "
                f"(limit {self.max_per_tenant}); retry later",
                retry_after_s=self.retry_after_s,
            )
        self.total += 1
        self.per_tenant[tenant] += 1

    def release(self, tenant: str) -> None:
        self.total -= 1
        self.per_tenant[tenant] -= 1
        if self.per_tenant[tenant] <= 0:
            del self.per_tenant[tenant]
