"""Background tasks that fail loudly: every task has a name, and a failure is logged with its
traceback and counted in `ocpp_lc_task_failures_total{task}` instead of vanishing with the task.

The counter lives in a registry of its own (`REGISTRY`), shared by every part of the process,
so the router, its links and the load balancer count into one series per task name.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection, Coroutine
from typing import Any

from prometheus_client import CollectorRegistry, Counter

log = logging.getLogger(__name__)

REGISTRY = CollectorRegistry()
TASK_FAILURES = Counter(
    "ocpp_lc_task_failures",
    "Background tasks that ended with an exception, by task name",
    ["task"],
    registry=REGISTRY,
)


# Python 3.11's asyncio.wait_for drops a cancellation that arrives together with the result it
# waits for (pymodbus reads the meter through it), so a task can outlive one cancel: it gets
# another one every CANCEL_AGAIN_S until it is gone.
CANCEL_AGAIN_S = 0.5


async def end(tasks: Collection[asyncio.Task[Any]]) -> None:
    """Cancel `tasks` and wait until every one is done; their outcomes no longer matter.

    A cancellation of the caller is not swallowed: it interrupts the wait.
    """
    pending = {task for task in tasks if not task.done()}
    while pending:
        for task in pending:
            task.cancel()
        _done, pending = await asyncio.wait(pending, timeout=CANCEL_AGAIN_S)


def report_failure(task: str, exc: BaseException, owner: str = "") -> None:
    """Log `exc` with its traceback and count it against `task` (a name shared by every
    owner's task of that kind, so the series stay few; the log names the owner)."""
    TASK_FAILURES.labels(task).inc()
    where = f" ({owner})" if owner else ""
    log.error("task %s%s failed", task, where, exc_info=(type(exc), exc, exc.__traceback__))


class Tasks:
    """The background tasks of one owner (a link, the router, the balancer), cancelled together
    when it stops."""

    def __init__(self, owner: str = "") -> None:
        self._owner = owner
        self._running: set[asyncio.Task[Any]] = set()

    def spawn(self, coroutine: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coroutine, name=name)
        self._running.add(task)
        task.add_done_callback(self._finished)
        return task

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self._running.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            report_failure(task.get_name(), exc, self._owner)

    def cancel(self) -> None:
        """Cancel every running task (their results no longer matter)."""
        for task in list(self._running):
            task.cancel()

    async def stop(self) -> None:
        """Cancel every running task and wait until they are gone."""
        await end(list(self._running))
