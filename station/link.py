"""The asyncio side of the LC's own CSMS connection: it dials, pumps text and time through a
`StationSession`, runs the registered handlers and redials with the OCPPCommCtrlr back-off,
to the network profile slot the `DialPlan` names (B10)."""

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
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import aiohttp

from ocpp_knowledge.security_events import RecordSecurityEvent
from router.upstream import CREDENTIALS_REFUSED, UpstreamDialer, UpstreamRefused, UpstreamSettings
from station.backoff import BackOff, reconnect_delay
from station.dial_plan import DialPlan
from station.network_profiles import NetworkProfile, NetworkProfiles
from station.session import (
    BootAnswered,
    CallAnswered,
    CallFailed,
    ClockJumped,
    IncomingCall,
    InvalidReceived,
    Output,
    ReplayReceived,
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


def _log_only(event_type: str, tech_info: str) -> None:
    log.warning("security event %s: %r", event_type, tech_info)


class DialOutcomes(Protocol):
    """Hears how the LC's own link's dials go (the client certificate it presents follows:
    A02.FR.28); it may give the link another TLS context for its next dial."""

    def every_entry_failed(self, back_to_last_connection: bool) -> None:
        """Every NetworkConfigurationPriority entry failed all its attempts; the link now
        redials the last successful connection alone (B10.FR.07) or goes round again."""

    def connected(self) -> None:
        """A dial worked: the CSMS took the LC's TLS identity."""


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
        network: NetworkProfiles,
    ) -> None:
        """`dialer_settings`: how to dial any profile's URL (its `base_url` is replaced)."""
        self.settings = settings
        self.session = session
        self.network = network
        self.handlers: dict[str, Handler] = {}
        self.reconnects = 0
        self.redial_at: float | None = None  # wall time of the next dial, while waiting for it
        self.slot_in_use: int | None = None  # the network profile slot of the open link
        self._plan = DialPlan(network.priority, network.attempts, network.last_connected)
        self._dialer_settings = dialer_settings
        self._dialer: UpstreamDialer | None = None  # for the URL of the last dial
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._moving = False  # the open link closes to dial the first priority at once
        self.register("SetNetworkProfile", network.set_network_profile)
        # Where the link reports the LC's security events: the security log, once wired.
        self.record_security_event: RecordSecurityEvent = _log_only
        self._csms_certificate_problem: str | None = None
        self._credentials_refused = False
        self._dial_outcomes: DialOutcomes | None = None
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

    def use_password(self, password: str) -> None:
        """The next dial presents `password` (A01: the CSMS rotated it)."""
        self.settings = replace(self.settings, password=password)

    def use_ssl_context(self, context: ssl.SSLContext) -> None:
        """The next dial to a `wss://` CSMS uses `context` (the LC's renewed certificate, the
        CSMS roots installed); the link open now keeps its TLS session."""
        self._dialer_settings = replace(self._dialer_settings, ssl_context=context)
        dialer = self._dialer
        if dialer is None:
            return
        if self._ws is None:
            # No link open in it: the next dial makes a new dialer. Retired ones would pile up
            # while the LC redials, switching certificates after each round (A02.FR.28).
            self._dialer = None
            self._tasks.spawn(dialer.close(), "station dialer closed")
        else:
            dialer.use_ssl_context(context)

    def report_dials(self, outcomes: DialOutcomes) -> None:
        """Tell `outcomes` how the dials go from now on."""
        self._dial_outcomes = outcomes

    async def move(self) -> None:
        """Close the open link and dial NetworkConfigurationPriority's first slot at once
        (B10.FR.06: away from the old CSMS before the new one), as after a reboot."""
        ws = self._ws
        if ws is None:  # not connected: the next dial goes to the new first slot
            self._plan.restart(self.network.priority, self.network.attempts)
            return
        self._moving = True
        # What is queued for the old CSMS (the answer that asked for the move) goes first.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.network.active.message_timeout_s):
                await self._outbox.join()
        await ws.close(message=b"the LC moves to another network profile")

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
                slot = self._plan.slot
                profile = self.network.profile(slot)
                try:
                    ws = await self._dial(profile)
                except UpstreamRefused as refused:
                    self.network.dial_failed(slot)
                    if self._plan.failed() and self._dial_outcomes is not None:
                        self._dial_outcomes.every_entry_failed(self._plan.falling_back)
                    # The next slot is a new start: its first attempt comes without doubling.
                    failures = failures + 1 if self._plan.slot == slot else 1
                    self._credentials_checked(refused.reason)
                    delay = reconnect_delay(self.settings.backoff, failures, random.random())
                    log.warning(
                        "station %s: CSMS at slot %d refused (%s), slot %d in %.0f s",
                        self.settings.identity,
                        slot,
                        refused.reason,
                        self._plan.slot,
                        delay,
                    )
                    await self._wait(delay)
                    continue
                self._credentials_checked(None)
                if self._dial_outcomes is not None:
                    self._dial_outcomes.connected()
                await self._connected(ws, slot, profile)
                self.reconnects += 1
                failures = 1
                # B10.FR.03: after losing the link, from the first entry again.
                self._plan.restart(self.network.priority, self.network.attempts)
                if self._moving:
                    self._moving = False
                    continue
                await self._wait(reconnect_delay(self.settings.backoff, 1, random.random()))
        finally:
            await self._tasks.stop()
            if self._dialer is not None:
                await self._dialer.close()

    async def _connected(
        self, ws: aiohttp.ClientWebSocketResponse, slot: int, profile: NetworkProfile
    ) -> None:
        if self._plan.connected():
            self.session.register_anew()  # B10.FR.10: another CSMS, perhaps
        before = self.network.active.security_profile
        self.network.connected_with(slot)
        if profile.security_profile != before:
            self.record_security_event(
                "ReconfigurationOfSecurityParameters",
                f"security profile {before} -> {profile.security_profile} "
                f"(network profile slot {slot})",
            )
        self.session.use_message_timeout(profile.message_timeout_s)
        self.slot_in_use, self._ws = slot, ws
        try:
            await self._pump(ws)
        finally:
            self.slot_in_use, self._ws = None, None

    def _credentials_checked(self, refusal: str | None) -> None:
        """One event when the CSMS starts refusing the LC's credentials, not one per redial."""
        refused = refusal in CREDENTIALS_REFUSED
        if refused and not self._credentials_refused:
            self.record_security_event(
                "FailedToAuthenticateAtCsms",
                f"the CSMS refused the LC's identity {self.settings.identity} ({refusal})",
            )
        self._credentials_refused = refused

    def _csms_certificate_checked(self, problem: str | None) -> None:
        # One event when the CSMS's certificate stops verifying, not one per redial.
        if problem is not None and self._csms_certificate_problem is None:
            self.record_security_event("InvalidCsmsCertificate", f"LC's own link: {problem}")
        self._csms_certificate_problem = problem

    async def _wait(self, delay_s: float) -> None:
        self.redial_at = time.time() + delay_s
        await asyncio.sleep(delay_s)
        self.redial_at = None

    async def _dial(self, profile: NetworkProfile) -> aiohttp.ClientWebSocketResponse:
        headers = {}
        if self.settings.password is not None and profile.security_profile < 3:
            secret = f"{self.settings.identity}:{self.settings.password}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(secret).decode()
        if self._dialer is None or self._dialer_settings.base_url != profile.url:
            if self._dialer is not None:
                await self._dialer.close()
            self._dialer_settings = replace(self._dialer_settings, base_url=profile.url)
            self._dialer = UpstreamDialer(
                self._dialer_settings,
                self._csms_certificate_checked,
                lambda event_type, info: self.record_security_event(event_type, info),
            )
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
            elif isinstance(output, InvalidReceived):
                self.record_security_event("InvalidMessages", f"from the CSMS: {output.detail}")
            elif isinstance(output, ReplayReceived):
                self.record_security_event("AttemptedReplayAttacks", f"CSMS: {output.detail}")
            elif isinstance(output, ClockJumped):
                # The LC keeps its own clock, but what it takes for the time moved (A04).
                self.record_security_event(
                    "SettingSystemTime",
                    f"the CSMS's clock is {output.offset_s:+.0f} s from the LC's "
                    f"(moved {output.change_s:+.0f} s)",
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
