"""Background tasks fail loudly: logged with their traceback and counted by name."""

from __future__ import annotations

import asyncio
import logging

import pytest

from supervision.tasks import TASK_FAILURES, Tasks
from tests.peers import wait_until


def failures(task: str) -> float:
    return float(TASK_FAILURES.labels(task)._value.get())


async def test_a_failing_task_is_logged_with_its_traceback_and_counted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def broken() -> None:
        raise ValueError("a bug in a background job")

    tasks = Tasks(owner="CP-1")
    before = failures("broken-job")
    with caplog.at_level(logging.ERROR, logger="supervision.tasks"):
        tasks.spawn(broken(), "broken-job")
        await wait_until(lambda: failures("broken-job") == before + 1, what="the failure counted")
    [record] = caplog.records
    assert "broken-job" in record.getMessage() and "CP-1" in record.getMessage()
    assert record.exc_info is not None and isinstance(record.exc_info[1], ValueError)
    await tasks.stop()


async def test_cancelled_and_finished_tasks_are_no_failures() -> None:
    tasks = Tasks()
    before = failures("quiet-job")
    done = tasks.spawn(asyncio.sleep(0), "quiet-job")
    tasks.spawn(asyncio.sleep(3600), "quiet-job")
    await done
    await tasks.stop()  # cancels the sleeper
    assert failures("quiet-job") == before


# A hang guard, not a speed check: the old stop waited for ever on such a task.
HANG_GUARD_S = 30


async def test_a_task_that_loses_its_cancellation_is_cancelled_again() -> None:
    """As pymodbus's read can on Python 3.11: the cancel arrives with the meter's reply and the
    read returns the reply instead; the task goes on with its next read."""
    cancels_lost = 0

    async def loses_one_cancellation() -> None:
        nonlocal cancels_lost
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            cancels_lost += 1
        await asyncio.sleep(3600)

    tasks = Tasks()
    task = tasks.spawn(loses_one_cancellation(), "stubborn-job")
    await asyncio.sleep(0)  # the task is at its first await
    await asyncio.wait_for(tasks.stop(), HANG_GUARD_S)
    assert task.cancelled()
    assert cancels_lost == 1
