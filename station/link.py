"""The asyncio side of the LC's own CSMS connection: it dials, pumps text and time through a
`StationSession`, runs the registered handlers and redials with the OCPPCommCtrlr back-off."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import contextvars
import inspect
import logging
import random
import ssl
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from router.upstream import UpstreamDialer, UpstreamRefused, UpstreamSettings
from station.backoff import BackOff, reconnect_delay
from station.session import (
    BootAnswered,
    CallAnswered,
    CallFailed,
    ClockJumped,
    IncomingCall,
    Output,
    Send,
    StationSession,
    Triggered,
)
from supervision.tasks import Tasks

log = logging.getLogger(__name__)

MAX_WAIT_S = 1.0
_CLOSING = (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR)

# A CSMS call's payload in, the response payload out.
Handler = Callable[[dict[str, Any]], Awaitable[dict[str, Any]] | dict[str, Any]]
FollowUp = Callable[[], Coroutine[Any, Any, None]]

# The follow-ups of the CSMS call whose handler is running in this task.
_FOLLOW_UPS: contextvars.ContextVar[list[FollowUp]] = contextvars.ContextVar("follow_ups")


class StationCallFailed(Exception):
    """The LC's own call got no usable answer: a CALLERROR, an invalid answer, a timeout, or
    the link went down while it was outstanding."""


@dataclass(frozen=True, slots=True)
class StationSettings:
    identity: str
    # Basic auth, security profiles 1 and 2; never in a log line or a traceback.
    password: str | None = field(default=None, repr=False)
    backoff: BackOff = field(default_factory=BackOff)


class StationLink:
    def __init__(
        self,
        settings: StationSettings,
        session: StationSession,
        dialer_settings: UpstreamSettings,
    ) -> None:
        self.settings = settings
        self.session = session
        self.handlers: dict[str, Handler] = {}
        self.reconnects = 0
        self.redial_at: float | None = None  # wall time of the next dial, while waiting for it
        self._dialer = UpstreamDialer(dialer_settings)
        self._tasks = Tasks("station")
        self._outbox: asyncio.Queue[str] = asyncio.Queue()
        self._waiting: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._senders: dict[str, FollowUp] = {}  # triggerable message -> what sends it
        self._on_accepted: list[FollowUp] = []

    def on_trigger(self, requested: str, sender: FollowUp) -> None:
        """Let the CSMS trigger `requested` (TriggerMessage); `sender` then sends it, after the
        Accepted answer, with `call`."""
        self._senders[requested] = sender
        self.session.allow_trigger(requested)

    def on_boot_accepted(self, follow_up: FollowUp) -> None:
        """Run `follow_up` whenever the CSMS accepts a BootNotification of the LC's."""
        self._on_accepted.append(follow_up)

    def register(self, action: str, handler: Handler) -> None:
        """Answer the CSMS's `action` calls with `handler`."""
        self.handlers[action] = handler

    def use_ssl_context(self, context: ssl.SSLContext) -> None:
        """The next dial to a `wss://` CSMS uses `context` (the LC's renewed certificate, the
        CSMS roots installed); the link open now keeps its TLS session."""
        self._dialer.use_ssl_context(context)

    def after_answer(self, follow_up: FollowUp) -> None:
        """From inside a handler: run `follow_up` once the handler's answer is on its way
        (e.g. the NotifyReports a GetBaseReport promises come after its response)."""
        _FOLLOW_UPS.get().append(follow_up)

    async def call(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Send one of the LC's calls (queued behind the others) and return the answer."""
        message_id, outputs = self.session.call(action, payload, time.time())
        answer: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting[message_id] = answer
        self._act(outputs)
        try:
            return await answer
        finally:
            self._waiting.pop(message_id, None)

    async def flushed(self) -> None:
        """Return once everything queued for the CSMS so far was written to the link (or the
        link went down): e.g. a Reset's answer, before the process restarts."""
        await self._outbox.join()

    async def run(self) -> None:
        """Keep the link up until cancelled. A lost link is redialled after the back-off as a
        refused one is, so a CSMS that accepts and drops the LC at once is not hammered."""
        failures = 0
        try:
            while True:
                try:
                    ws = await self._dial()
                except UpstreamRefused as refused:
                    failures += 1
                    delay = reconnect_delay(self.settings.backoff, failures, random.random())
                    log.warning(
                        "station %s: CSMS refused (%s), again in %.0f s",
                        self.settings.identity,
                        refused.reason,
                        delay,
                    )
                    await self._wait(delay)
                    continue
                await self._pump(ws)
                self.reconnects += 1
                failures = 1
                await self._wait(reconnect_delay(self.settings.backoff, 1, random.random()))
        finally:
            await self._tasks.stop()
            await self._dialer.close()

    async def _wait(self, delay_s: float) -> None:
        self.redial_at = time.time() + delay_s
        await asyncio.sleep(delay_s)
        self.redial_at = None

    async def _dial(self) -> aiohttp.ClientWebSocketResponse:
        headers = {}
        if self.settings.password is not None:
            secret = f"{self.settings.identity}:{self.settings.password}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(secret).decode()
        return await self._dialer.dial("", [self.session.dialect.subprotocol], headers)

    async def _pump(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        log.info("station %s: connected to the CSMS", self.settings.identity)
        self._outbox = asyncio.Queue()
        writer = self._tasks.spawn(self._write(ws), "station writer")
        self._act(self.session.connected(time.time()))
        try:
            while not ws.closed:
                message = await self._receive(ws)
                if message is None:
                    self._act(self.session.tick(time.time()))
                elif message.type is aiohttp.WSMsgType.TEXT:
                    self._act(self.session.receive(message.data, time.time()))
                elif message.type in _CLOSING:
                    break
        finally:
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writer
            while not self._outbox.empty():  # never written: `flushed` waits no longer
                self._outbox.get_nowait()
                self._outbox.task_done()
            self._act(self.session.disconnected())
            await ws.close()
            log.info("station %s: CSMS link closed", self.settings.identity)

    async def _receive(self, ws: aiohttp.ClientWebSocketResponse) -> aiohttp.WSMessage | None:
        """The next message, or None when the session's next deadline came first."""
        # Bounded: a call queued meanwhile brings a nearer deadline (its answer's timeout).
        deadline = self.session.next_deadline()
        timeout = MAX_WAIT_S if deadline is None else min(deadline - time.time(), MAX_WAIT_S)
        timeout = max(timeout, 0.0)
        try:
            return await ws.receive(timeout=timeout)
        except TimeoutError:
            return None

    async def _write(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        while True:
            text = await self._outbox.get()
            try:
                await ws.send_str(text)
            finally:
                self._outbox.task_done()

    def _act(self, outputs: list[Output]) -> None:
        for output in outputs:
            if isinstance(output, Send):
                self._outbox.put_nowait(output.text)
            elif isinstance(output, IncomingCall):
                self._tasks.spawn(self._handle(output), f"station {output.action}")
            elif isinstance(output, CallAnswered):
                self._settle(output.message_id, output.payload, None)
            elif isinstance(output, CallFailed):
                self._settle(output.message_id, None, output.reason)
            elif isinstance(output, Triggered):
                sender = self._senders[output.requested]
                self._tasks.spawn(sender(), f"station triggered {output.requested}")
            elif isinstance(output, BootAnswered):
                log.info(
                    "station %s: BootNotification %s (interval %d s)",
                    self.settings.identity,
                    output.status,
                    output.interval_s,
                )
                for follow_up in self._on_accepted if output.status == "Accepted" else ():
                    self._tasks.spawn(follow_up(), "station boot accepted")
            elif isinstance(output, ClockJumped):
                log.warning(
                    "station %s: the CSMS's clock is %+.0f s from the LC's (moved %+.0f s)",
                    self.settings.identity,
                    output.offset_s,
                    output.change_s,
                )

    def _settle(self, message_id: str, payload: dict[str, Any] | None, reason: str | None) -> None:
        answer = self._waiting.get(message_id)
        if answer is None or answer.done():
            return
        if payload is not None:
            answer.set_result(payload)
        else:
            answer.set_exception(StationCallFailed(reason))

    async def _handle(self, call: IncomingCall) -> None:
        follow_ups: list[FollowUp] = []
        _FOLLOW_UPS.set(follow_ups)
        if not await self._answer(call):
            return
        for follow_up in follow_ups:
            self._tasks.spawn(follow_up(), f"station {call.action} follow-up")

    async def _answer(self, call: IncomingCall) -> bool:
        """Answer `call` from its handler; False when it could not."""
        handler = self.handlers.get(call.action)
        if handler is None:
            description = f"the LC does not support {call.action}"
            self._act(self.session.fail(call.message_id, "NotSupported", description, time.time()))
            return False
        try:
            result = handler(call.payload)
            payload = await result if inspect.isawaitable(result) else result
        except Exception as exc:
            log.exception("station %s: %s handler failed", self.settings.identity, call.action)
            description = f"{call.action} failed: {type(exc).__name__}"
            self._act(self.session.fail(call.message_id, "InternalError", description, time.time()))
            return False
        self._act(self.session.answer(call.message_id, payload, time.time()))
        return True
