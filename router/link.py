"""The asyncio side of one charger's link pair: pump frames through its `LinkSession`.

All routing decisions are the session's; this module reads frames, feeds them in with the
time, and carries out the outputs in order: writes, metrics, events, LC call results.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from aiohttp import WSCloseCode, WSMsgType, web
from aiohttp.client_ws import ClientWebSocketResponse

from router import events as ev
from router.frames import CallError, ErrorKind, error_code
from router.metrics import RouterMetrics
from router.outputs import (
    Direction,
    LateReplyDropped,
    LcCallFinished,
    Observed,
    Output,
    Relayed,
    Send,
    Violation,
)
from router.session import LinkSession

log = logging.getLogger(__name__)

EventSink = Callable[[ev.Event], None]


class LcCallTimeout(Exception):
    """The charger did not answer an LC call in time (or the link closed first)."""


class LcCallRejected(Exception):
    """The charger answered an LC call with a CALLERROR."""

    def __init__(self, code: str, description: str) -> None:
        super().__init__(f"{code}: {description}")
        self.code = code
        self.description = description


class Link:
    def __init__(
        self,
        session: LinkSession,
        charger: web.WebSocketResponse,
        csms: ClientWebSocketResponse,
        metrics: RouterMetrics,
        publish: EventSink,
    ) -> None:
        self.session = session
        self.identity = session.identity
        self.version = session.version
        self._sockets: dict[Direction, web.WebSocketResponse | ClientWebSocketResponse] = {
            Direction.TO_CHARGER: charger,
            Direction.TO_CSMS: csms,
        }
        self._metrics = metrics
        self._publish = publish
        self._loop = asyncio.get_running_loop()
        self._lc_calls: dict[str, tuple[str, asyncio.Future[Any]]] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        self._background: set[asyncio.Task[None]] = set()
        self._closed = asyncio.Event()
        self.finished = asyncio.Event()  # set once both sockets are closed

    async def run(self) -> str:
        """Relay until either side goes; then close the other (the `close` policy of §6.3)."""
        self._publish(ev.ChargerConnected(self.identity, self.version))
        pumps = {
            asyncio.create_task(self._pump(Direction.TO_CSMS), name="from-charger"): "charger",
            asyncio.create_task(self._pump(Direction.TO_CHARGER), name="from-csms"): "csms",
            asyncio.create_task(self._closed.wait(), name="closed"): "replaced",
        }
        try:
            done, _ = await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
            reason = next(pumps[task] for task in done)
        finally:
            for task in pumps:
                task.cancel()
            await self._shutdown()
            self.finished.set()
        reason = f"{reason} link closed" if reason != "replaced" else "replaced by a new connection"
        self._publish(ev.ChargerDisconnected(self.identity, reason))
        return reason

    def close(self) -> None:
        """Ask `run` to end (a new connection with the same identity replaces this one)."""
        self._closed.set()

    async def call(
        self, action: str, payload: dict[str, Any], timeout_s: float | None = None
    ) -> dict[str, Any]:
        """Send the LC's own CALL to the charger and return the CALLRESULT payload."""
        message_id, outputs = self.session.send_lc_call(
            action, payload, self._loop.time(), timeout_s
        )
        future: asyncio.Future[Any] = self._loop.create_future()
        self._lc_calls[message_id] = (action, future)
        await self._execute(outputs)
        reply = await future
        if reply is None:
            self._metrics.lc_calls.labels(action, "timeout").inc()
            raise LcCallTimeout(f"{self.identity} did not answer {action}")
        if isinstance(reply, CallError):
            self._metrics.lc_calls.labels(action, "error").inc()
            raise LcCallRejected(reply.code, reply.description)
        self._metrics.lc_calls.labels(action, "result").inc()
        result: dict[str, Any] = reply.payload
        return result

    # -- pumping -----------------------------------------------------------------------------

    async def _pump(self, direction: Direction) -> None:
        source = self._sockets[_opposite(direction)]
        receive = (
            self.session.receive_from_charger
            if direction is Direction.TO_CSMS
            else self.session.receive_from_csms
        )
        async for message in source:
            if message.type is WSMsgType.TEXT:
                started = self._loop.time()
                await self._execute(receive(message.data, started))
                self._metrics.relay_seconds.observe(self._loop.time() - started)
            elif message.type is WSMsgType.BINARY:
                self._metrics.binary_frames_dropped.labels(direction.value).inc()
                log.warning("%s: binary frame dropped (%s)", self.identity, direction.value)
            elif message.type is WSMsgType.ERROR:
                log.info("%s: %s link error: %s", self.identity, direction.value, message.data)
                break

    async def _execute(self, outputs: list[Output]) -> None:
        for output in outputs:
            if isinstance(output, Send):
                await self._send(output)
            elif isinstance(output, Relayed):
                self._count_relayed(output)
            elif isinstance(output, Observed):
                self._publish(output.event)
            elif isinstance(output, LcCallFinished):
                _action, future = self._lc_calls.pop(output.message_id, ("", None))
                if future is not None and not future.done():
                    future.set_result(output.reply)
            elif isinstance(output, Violation):
                self._report(output)
            elif isinstance(output, LateReplyDropped):
                self._metrics.late_replies_dropped.inc()
                log.info("%s: late answer to LC call %s dropped", self.identity, output.message_id)
        self._schedule_timer()

    async def _send(self, output: Send) -> None:
        socket = self._sockets[output.direction]
        if socket.closed:
            return  # the pump of the other side ends the pair; nothing can be delivered now
        try:
            await socket.send_str(output.text)
        except ConnectionError:
            log.info("%s: %s link gone while sending", self.identity, output.direction.value)

    def _count_relayed(self, relayed: Relayed) -> None:
        direction = relayed.direction.value
        self._metrics.messages.labels(relayed.action, direction, relayed.message_type).inc()
        if relayed.error_code is not None:
            self._metrics.call_errors.labels(relayed.error_code, direction).inc()

    def _report(self, violation: Violation) -> None:
        direction = violation.direction.value
        self._metrics.invalid_messages.labels(
            direction, violation.kind.value, str(violation.rejected).lower()
        ).inc()
        if violation.rejected:
            code = error_code(self.version, violation.kind)
            if code is not None and violation.kind is not ErrorKind.MESSAGE_TYPE:
                self._metrics.call_errors.labels(code, "lc").inc()
        # InvalidMessages is the security event the spec names for this; the LC's own CSMS
        # connection (which would push it) is a later piece, so it is logged here.
        log.warning(
            "%s: InvalidMessages %s %s (%s): %s",
            self.identity,
            direction,
            violation.kind.value,
            violation.action or "-",
            violation.detail,
        )

    # -- timeouts ----------------------------------------------------------------------------

    def _schedule_timer(self) -> None:
        deadline = self.session.next_deadline()
        if deadline is None or (self._timer_at is not None and self._timer_at <= deadline):
            return  # an earlier wake-up is already set; it reschedules after it runs
        if self._timer is not None:
            self._timer.cancel()
        self._timer_at = deadline
        self._timer = self._loop.call_at(deadline, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = self._timer_at = None
        task = self._loop.create_task(self._execute(self.session.tick(self._loop.time())))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _shutdown(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        for output in self.session.close():
            _action, future = self._lc_calls.pop(output.message_id, ("", None))
            if future is not None and not future.done():
                future.set_result(None)
        charger, csms = self._sockets[Direction.TO_CHARGER], self._sockets[Direction.TO_CSMS]
        # Mirror a normal close code; anything else (lost, ping timeout) is "going away".
        code = _close_code((charger if charger.closed else csms).close_code)
        await asyncio.gather(
            charger.close(code=code), csms.close(code=code), return_exceptions=True
        )


def _opposite(direction: Direction) -> Direction:
    return Direction.TO_CHARGER if direction is Direction.TO_CSMS else Direction.TO_CSMS


def _close_code(code: int | None) -> int:
    return code if code == WSCloseCode.OK else WSCloseCode.GOING_AWAY
