"""Read one socket of a link and relay its frames through the link's outputs.

A text frame that arrives while the pump waits for one is relayed right from aiohttp's parser
(router/frame_tap.py): no await and no task per frame. The pump reads the rest itself: control
and binary frames, the end of the link, and text frames it had to hold back, in order. It
holds back (stops taking frames, so TCP holds the sender back) while a write towards the other
side waits for that socket to drain or a journal write of an earlier frame is under way, and
on the charger's side while the charger is over its frame budget.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from aiohttp import WSMsgType, web
from aiohttp.client_ws import ClientWebSocketResponse

from router.frame_tap import tap_of
from router.frame_timer import FrameTimer
from router.link_outputs import LinkOutputs, LinkParts, Route
from router.outputs import Direction
from router.rate_limit import FrameBudget

log = logging.getLogger(__name__)

_FRAME_TYPES_ENDING_A_LINK = (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED)
# A link relays at most this many frames in one turn of the event loop, then lets the other
# links have theirs (reading a frame that has not arrived yet gives them one anyway).
FRAMES_PER_TURN = 8


class Pump:
    def __init__(
        self,
        direction: Direction,  # where the frames read go
        source: web.WebSocketResponse | ClientWebSocketResponse,
        route: Route,
        parts: LinkParts,
        outputs: LinkOutputs,
        budget: FrameBudget | None = None,  # the charger's side only
        frame_timer: FrameTimer | None = None,  # the charger's side only
    ) -> None:
        self._direction = direction
        self._source = source
        self._route = route
        self._outputs = outputs
        self._pending = outputs.pending[direction]
        self._metrics = parts.metrics
        self._reports = parts.reports
        self._budget = budget
        self._frame_timer = frame_timer
        self._loop = asyncio.get_running_loop()

    async def run(self) -> None:
        """Relay until the link ends on this side."""
        source, frame_timer, budget = self._source, self._frame_timer, self._budget
        tap = tap_of(source)
        frames_this_turn = 0
        try:
            while True:
                if frame_timer is not None:
                    frame_timer.waiting(self._loop.time())
                if tap is not None:  # frames arriving while the pump waits: see _take
                    tap.take = self._take
                message = await source.receive()
                if tap is not None:
                    tap.take = None
                if frame_timer is not None:
                    frame_timer.frame_read()
                if message.type in _FRAME_TYPES_ENDING_A_LINK:
                    return
                if budget is not None:
                    wait = budget.take(self._loop.time())
                    if wait > 0:  # not reading meanwhile: TCP holds the charger back
                        self._metrics.throttled_seconds.inc(wait)
                        await asyncio.sleep(wait)
                if message.type is WSMsgType.TEXT:
                    await self._relay(message.data)
                elif message.type is WSMsgType.PING:
                    # The charger's pings (only its socket hands them over) are answered here,
                    # after its frame budget: a ping flood is read, and answered, at the frame
                    # rate.
                    with contextlib.suppress(ConnectionError):
                        await source.pong(message.data)
                elif message.type is WSMsgType.BINARY:
                    direction = self._direction.value
                    self._metrics.binary_frames_dropped.labels(direction).inc()
                    self._reports.invalid(self._loop.time(), "binary frame dropped (%s)", direction)
                elif message.type is WSMsgType.ERROR:
                    identity, direction = self._outputs.identity, self._direction.value
                    log.info("%s: %s link error: %s", identity, direction, message.data)
                    return
                frames_this_turn += 1
                if frames_this_turn == FRAMES_PER_TURN:
                    frames_this_turn = 0
                    await asyncio.sleep(0)
        finally:
            if tap is not None:
                tap.take = None

    async def _relay(self, text: str) -> None:
        if self._pending:  # backpressure, or a journal write of the frame before
            await asyncio.wait(set(self._pending))
        started = self._loop.time()
        rest = self._outputs.relay(self._route, text, started)
        if rest:
            await self._outputs.finish_relay(rest, started)

    def _take(self, text: str) -> bool:
        """Relay a text frame right from the parser while the pump waits for one. Declined
        (the pump reads it) while the pump would hold back, and after FRAMES_PER_TURN frames
        of the link in one turn of the event loop (the rest of what one read brought waits
        for the link's next turn)."""
        outputs = self._outputs
        if self._pending or outputs.relayed_this_turn >= FRAMES_PER_TURN:
            return False
        now = self._loop.time()
        if self._budget is not None and not self._budget.try_take(now):
            return False
        if self._frame_timer is not None:
            # Read and handled at once: the pump still waits for the next frame.
            self._frame_timer.frame_taken()
        try:
            rest = outputs.relay(self._route, text, now)
            if rest:
                outputs.finish_relay_later(rest, now, self._direction)
        except Exception as exc:  # a defect: the link ends, as when a pump fails
            outputs.failed("relay", exc)
        return True
