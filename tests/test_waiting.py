"""The polling helpers return the condition's value, and fail naming what was awaited."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from tests.waiting import wait_for, wait_for_async


def test_wait_for_returns_the_first_truthy_value():
    counter = itertools.count()
    assert wait_for(lambda: next(counter) >= 3 and "ready", "the counter") == "ready"


def test_wait_for_fails_naming_what_it_waited_for():
    with pytest.raises(AssertionError, match="waiting for the impossible"):
        wait_for(lambda: False, "the impossible", timeout=0.05)


def test_wait_for_async_lets_other_tasks_run():
    async def main() -> list[str]:
        done: list[str] = []

        async def worker() -> None:
            await asyncio.sleep(0)
            done.append("worked")

        task = asyncio.create_task(worker())
        await wait_for_async(lambda: done, "the worker")
        await task
        return done

    assert asyncio.run(main()) == ["worked"]
