"""A charger's frame deadline (router/frame_deadline.py) on the event loop: bytes arriving
start the clock, one timer at a time watches it, and `on_expired` ends the link."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from router.arrivals import watch_arrivals
from router.frame_deadline import FrameDeadline


class FrameTimer:
    def __init__(self, limit_s: float, on_expired: Callable[[float], None]) -> None:
        self._deadline = FrameDeadline(limit_s)
        self._on_expired = on_expired  # given the limit in seconds
        self._loop = asyncio.get_running_loop()
        self._timer: asyncio.TimerHandle | None = None

    def watch(self, transport: asyncio.BaseTransport) -> None:
        """Start the clock whenever bytes arrive on the charger's connection."""
        watch_arrivals(transport, self._bytes_arrived)

    def waiting(self, now: float) -> None:
        """The link waits for the charger's next frame from now on."""
        self._deadline.waiting(now)
        self._watch()

    def frame_read(self) -> None:
        self._deadline.frame_read()

    def frame_taken(self) -> None:
        """A frame read and handled while the link waits for the next (see Pump._take)."""
        self._deadline.frame_taken()

    def stop(self) -> None:
        self._deadline.stop()
        if self._timer is not None:
            self._timer.cancel()

    def _bytes_arrived(self) -> None:
        # On every read: a frame that begins needs a timer only when none is set (a timer set
        # earlier re-arms for it when it fires).
        if self._deadline.bytes_arrived(self._loop.time()) and self._timer is None:
            self._watch()

    def _watch(self) -> None:
        # One timer at a time: a deadline only moves later, and the timer re-arms when early.
        deadline = self._deadline.deadline()
        if deadline is not None and self._timer is None:
            self._timer = self._loop.call_at(deadline, self._reached)

    def _reached(self) -> None:
        self._timer = None
        if not self._deadline.expired(self._loop.time()):
            self._watch()
            return
        self._on_expired(self._deadline.limit_s)
