"""The LC's own calls to a charger waiting for their answers: one future per call in flight.

The call itself (its id, its timeout, matching the answer) is the link session's; this only
hands the session's `LcCallFinished` to whoever awaits the call.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from router.frames import CallError, CallResult
from router.outputs import LcCallFinished

Reply = CallResult | CallError | None  # None: no answer in time, or the link ended


class LcCallWaiters:
    def __init__(self) -> None:
        self._waiting: dict[str, asyncio.Future[Reply]] = {}

    def wait(self, message_id: str) -> asyncio.Future[Reply]:
        future: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        self._waiting[message_id] = future
        return future

    def finished(self, message_id: str, reply: Reply) -> None:
        future = self._waiting.pop(message_id, None)
        if future is not None and not future.done():
            future.set_result(reply)

    def unanswered(self, ended: Iterable[LcCallFinished]) -> None:
        for call in ended:
            self.finished(call.message_id, None)
