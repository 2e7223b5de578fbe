"""Start a coroutine here and now; a task takes over only if it has to wait.

Writing a frame to a WebSocket is a coroutine in aiohttp, but it almost never waits: it
writes to the transport and returns, and waits only while the transport's buffer is full or
a large frame is compressed in a thread. The relay writes from callbacks (a timer, the
batched observation) as well as from its read loop, and a task per frame would cost more
than the write. (Python 3.12's eager tasks do the same; the LC still runs on 3.11.)
"""

from __future__ import annotations

import asyncio
import types
from collections.abc import Coroutine, Generator
from typing import Any


def start_eagerly(coroutine: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None] | None:
    """Run `coroutine` up to its first wait; None when it finished without one, else the task
    that runs the rest. What it raises before waiting is raised here."""
    try:
        waited = coroutine.send(None)
    except StopIteration:
        return None
    return asyncio.get_running_loop().create_task(_rest(coroutine, waited), name=name)


async def _rest(coroutine: Coroutine[Any, Any, None], waited: Any) -> None:
    await _resume(coroutine, waited)


@types.coroutine
def _resume(coroutine: Coroutine[Any, Any, None], waited: Any) -> Generator[Any, Any, None]:
    """Hand the task what `coroutine` waits for, and `coroutine` what the task got back."""
    while True:
        try:
            result = yield waited
        except BaseException as exc:  # a cancellation: it is the coroutine's to handle
            try:
                waited = coroutine.throw(exc)
            except StopIteration:
                return
            continue
        try:
            waited = coroutine.send(result)
        except StopIteration:
            return
