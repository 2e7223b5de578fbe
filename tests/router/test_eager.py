"""Coroutines started here and now, continued by a task only when they wait."""

from __future__ import annotations

import asyncio

import pytest

from router.eager import start_eagerly


async def test_a_coroutine_that_does_not_wait_finishes_before_the_call_returns() -> None:
    done: list[str] = []

    async def write() -> None:
        done.append("written")

    assert start_eagerly(write(), "write") is None
    assert done == ["written"]


async def test_a_coroutine_that_waits_is_continued_by_a_task_with_what_it_waited_for() -> None:
    drained: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    steps: list[str] = []

    async def write() -> None:
        steps.append("written")
        steps.append(await drained)

    task = start_eagerly(write(), "write")
    assert task is not None
    assert steps == ["written"]  # the part before the wait ran in the call
    drained.set_result("drained")
    await task
    assert steps == ["written", "drained"]


async def test_what_the_coroutine_raises_before_waiting_is_raised_by_the_call() -> None:
    async def write() -> None:
        raise ConnectionResetError("gone")

    with pytest.raises(ConnectionResetError):
        start_eagerly(write(), "write")


async def test_cancelling_the_task_cancels_the_coroutine_where_it_waits() -> None:
    never: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    seen: list[str] = []

    async def write() -> None:
        try:
            await never
        except asyncio.CancelledError:
            seen.append("cancelled")
            raise

    task = start_eagerly(write(), "write")
    assert task is not None
    await asyncio.sleep(0)  # the task is waiting on the future now
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert seen == ["cancelled"]
