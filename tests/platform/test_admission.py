"""Admission bounds: overall and per tenant, released on exit, refused with a retry hint."""

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


def test_slots_come_back_when_a_request_ends():
    admission = Admission(max_total=1, max_per_tenant=1)
    with admission.admit("a"):
        assert admission.total == 1
    assert admission.total == 0 and not admission.per_tenant
    with pytest.raises(KeyError), admission.admit("a"):
        raise KeyError("failure inside the request")
    assert admission.total == 0
