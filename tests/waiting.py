"""Waiting in tests on a condition, never for a fixed time: a fixed sleep is too short on a loaded machine (a flaky
failure) and too long everywhere else, and it never says what the test was waiting for."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


def wait_for(condition: Callable[[], T], what: str, timeout: float = 30.0, interval: float = 0.02) -> T:
    """Poll `condition` until it returns a truthy value, and return that value; fail naming `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)
    return value


async def wait_for_async(
    condition: Callable[[], T | Awaitable[T]], what: str, timeout: float = 30.0, interval: float = 0.02
) -> T:
    """`wait_for` inside an event loop: the loop keeps running (other tasks progress) between the polls."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if asyncio.iscoroutine(value) or isinstance(value, asyncio.Future):
            value = await value
        if value:
            return value  # type: ignore[return-value]
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(interval)
