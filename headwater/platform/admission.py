"""Admission control: a bounded number of sequences in flight, overall and per tenant, refused with HTTP 429.

A request asks for `prompts × n` sequences, and that is what it costs the engines, so that is what is counted:
a 128-prompt × n=16 completion is 2048 sequences, not one request. Bounding the queue at the gateway keeps latency
predictable under overload: a request beyond the bound is told when to come back (`Retry-After`, from the rate
at which sequences have been finishing) instead of waiting behind thousands of others until its client times out.
"""

from __future__ import annotations

import math
import time
from collections import Counter, deque

from headwater.errors import RateLimitError

RATE_WINDOW_S = 30.0
MAX_RETRY_AFTER_S = 60


class Admission:
    """Counts admitted sequences; `acquire` refuses once a bound would be passed."""

    def __init__(self, max_total: int, max_per_tenant: int) -> None:
        self.max_total = max_total
        self.max_per_tenant = max_per_tenant
        self.total = 0
        self.per_tenant: Counter[str] = Counter()
        self._finished: deque[tuple[float, int]] = deque()

    def acquire(self, tenant: str, sequences: int = 1) -> None:
        """Take `sequences` slots or raise RateLimitError; pair with `release` (streams outlive a `with` block)."""
        if self.total + sequences > self.max_total:
            raise RateLimitError(
                f"the server has {self.total} sequences in flight and this request adds {sequences} "
                f"(limit {self.max_total}); retry later",
                retry_after_s=self.retry_after_s(self.total + sequences - self.max_total),
            )
        held = self.per_tenant[tenant]
        if held + sequences > self.max_per_tenant:
            raise RateLimitError(
                f"tenant {tenant!r} has {held} sequences in flight and this request adds {sequences} "
                f"(limit {self.max_per_tenant}); retry later",
                retry_after_s=self.retry_after_s(held + sequences - self.max_per_tenant),
            )
        self.total += sequences
        self.per_tenant[tenant] += sequences

    def release(self, tenant: str, sequences: int = 1) -> None:
        self.total -= sequences
        self.per_tenant[tenant] -= sequences
        if self.per_tenant[tenant] <= 0:
            del self.per_tenant[tenant]
        self._finished.append((time.monotonic(), sequences))

    def retry_after_s(self, excess: int) -> int:
        """Seconds until `excess` more sequences have likely finished, at the rate of the last half minute."""
        now = time.monotonic()
        while self._finished and now - self._finished[0][0] > RATE_WINDOW_S:
            self._finished.popleft()
        done = sum(count for _, count in self._finished)
        if not done:
            return 1 if not self.total else min(MAX_RETRY_AFTER_S, 5)
        span = max(1.0, now - self._finished[0][0])
        return max(1, min(MAX_RETRY_AFTER_S, math.ceil(excess * span / done)))
