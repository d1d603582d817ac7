"""Admission bounds count sequences, overall and per tenant; refusals carry a Retry-After from the finish rate."""

from __future__ import annotations

import pytest

from headwater.errors import RateLimitError
from headwater.platform.admission import Admission


def test_per_tenant_bound_leaves_other_tenants_alone():
    admission = Admission(max_total=3, max_per_tenant=2)
    admission.acquire("a")
    admission.acquire("a")
    with pytest.raises(RateLimitError, match="tenant 'a'") as error:
        admission.acquire("a")
    assert error.value.retry_after_s >= 1
    admission.acquire("b")
    with pytest.raises(RateLimitError, match="limit 3"):
        admission.acquire("c")


def test_a_request_costs_its_sequences():
    admission = Admission(max_total=100, max_per_tenant=40)
    admission.acquire("a", 32)
    with pytest.raises(RateLimitError, match="has 32 sequences in flight and this request adds 16"):
        admission.acquire("a", 16)
    admission.acquire("a", 8)
    admission.release("a", 40)
    assert admission.total == 0 and not admission.per_tenant


def test_retry_after_follows_the_rate_at_which_sequences_finish(monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr("headwater.platform.admission.time.monotonic", lambda: clock[0])
    admission = Admission(max_total=10, max_per_tenant=10)
    admission.acquire("a", 10)
    for _ in range(5):  # one sequence finishes every 2 s, and is admitted again
        clock[0] += 2.0
        admission.release("a", 1)
        admission.acquire("a", 1)
    with pytest.raises(RateLimitError) as error:
        admission.acquire("b", 4)  # 4 more must finish first: about 8 s at one per 2 s
    assert 6 <= error.value.retry_after_s <= 10
