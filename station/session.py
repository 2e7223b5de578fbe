"""The LC's own OCPP session towards the CSMS (2.0.1 or 1.6J), sans-I/O: text and time in,
outputs out.

The asyncio layer (`station.link`) feeds it what the WebSocket carries (`receive`), the link
coming and going (`connected`, `disconnected`) and the passing of time (`tick` at
`next_deadline()`), and acts on what it returns: `Send` text to write, `IncomingCall` for a
CSMS call a registered handler answers (through `answer`), `CallAnswered` / `CallFailed` for
the LC's own calls (queued with `call`), and `BootAnswered` / `ClockJumped` to report.

Provisioning (B01–B04): a BootNotification at connect until one is Accepted (not again on a
reconnect after that); Pending and Rejected retry it after the CSMS's interval. While Pending
the session answers the CSMS's calls and sends only what the CSMS triggers; while Rejected it
answers every CSMS call with SecurityError. Once Accepted it sends a Heartbeat whenever it has
sent nothing for the interval, and compares the CSMS's clock with its own at every answer that
carries it. TriggerMessage (1.6: also ExtendedTriggerMessage) is answered here, because what it
may trigger depends on that state.
Every payload in either direction is checked against the official schemas of the session's
version; what the versions word differently is data in `station.dialect`.
"""

from __future__ import annotations

import uuid
from collections import OrderedDict, deque
from dataclasses import dataclass, replace
from enum import Enum
from typing import Any

from ocpp_knowledge.ocpp_time import from_ocpp_time
from router.frames import (
    Call,
    CallError,
    CallResult,
    FrameError,
    call_error_text,
    call_result_text,
    call_text,
    error_code,
    parse_frame,
)
from router.schemas import SchemaRegistry
from station.dialect import V201, Dialect, StationIdentity


class LinkState(Enum):
    DISCONNECTED = "disconnected"
    BOOTING = "booting"  # connected, waiting for the answer to a BootNotification
    PENDING = "pending"
    REJECTED = "rejected"
    ACCEPTED = "accepted"


@dataclass(frozen=True, slots=True)
class SessionTimers:
    message_timeout_s: float = 30.0  # OCPPCommCtrlr.MessageTimeout
    # The retry interval after Pending or Rejected when the CSMS's interval is 0.
    default_retry_s: float = 60.0
    # The heartbeat interval when an Accepted answer's interval is 0.
    default_heartbeat_s: float = 300.0
    # ClockCtrlr.TimeAdjustmentReportingThreshold: a larger change of the clock is reported.
    clock_report_threshold_s: float = 20.0


@dataclass(frozen=True, slots=True)
class Send:
    text: str


@dataclass(frozen=True, slots=True)
class IncomingCall:
    """A CSMS call, schema-valid, for a registered handler; answer it with `answer`."""

    message_id: str
    action: str
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class CallAnswered:
    message_id: str
    action: str
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class CallFailed:
    """The LC's call got a CALLERROR, an invalid answer, no answer in time, or lost its link."""

    message_id: str
    action: str
    reason: str


@dataclass(frozen=True, slots=True)
class BootAnswered:
    status: str
    interval_s: int


@dataclass(frozen=True, slots=True)
class Triggered:
    """The CSMS triggered `requested`, one of the messages registered with `allow_trigger`:
    its sender follows the (already sent) Accepted answer."""

    requested: str


@dataclass(frozen=True, slots=True)
class ClockJumped:
    """The CSMS's clock moved away from the LC's by more than the reporting threshold."""

    offset_s: float  # CSMS time minus LC time, now
    change_s: float  # how far it moved since the last comparison


@dataclass(frozen=True, slots=True)
class InvalidReceived:
    """The CSMS sent something that is not valid OCPP: an unreadable frame, a call or an answer
    its schema refuses (A04 InvalidMessages)."""

    detail: str


@dataclass(frozen=True, slots=True)
class ReplayReceived:
    """The CSMS sent a call with a message ID it had used before: OCPP-J (Part 4 §4.1.4) wants
    a new ID for every call, retries included, so this is no resend (A04 AttemptedReplayAttacks).
    The session refused it with SecurityError."""

    detail: str


# How many of the CSMS's recent call IDs are remembered, over every connection of the process.
SEEN_CALL_IDS = 1024

# CallFailed.reason when the link went down with the call outstanding: it was not refused.
LINK_LOST = "link lost"

Output = (
    Send
    | IncomingCall
    | CallAnswered
    | CallFailed
    | BootAnswered
    | Triggered
    | ClockJumped
    | InvalidReceived
    | ReplayReceived
)


@dataclass(slots=True)
class _OwnCall:
    message_id: str
    action: str
    payload: dict[str, Any]
    # Sent while not Accepted too: a BootNotification, or a message the CSMS triggered.
    before_accepted: bool = False
    deadline: float = 0.0


class StationSession:
    def __init__(
        self,
        identity: StationIdentity,
        schemas: SchemaRegistry,
        timers: SessionTimers = SessionTimers(),
        boot_reason: str = "PowerUp",
        dialect: Dialect = V201,
    ) -> None:
        self.dialect = dialect
        self._version = dialect.version
        self._identity = identity
        self._schemas = schemas
        self._timers = timers
        self._boot_reason = boot_reason
        self.state = LinkState.DISCONNECTED
        self.boot_status: str | None = None  # the CSMS's last answer to a BootNotification
        self.heartbeat_interval_s = timers.default_heartbeat_s
        self.clock_offset_s = 0.0  # CSMS time minus LC time, from the last comparison
        self._ever_accepted = False
        self._queue: deque[_OwnCall] = deque()
        self._outstanding: _OwnCall | None = None
        self._boot_due: float | None = None  # when to (re)send a BootNotification
        self._last_sent = 0.0
        self._answering: dict[str, str] = {}  # CSMS call ids being handled -> action
        self._registered_triggers: set[str] = set()  # sent by the LC's parts, see allow_trigger
        self._seen_call_ids: OrderedDict[str, None] = OrderedDict()  # oldest first

    def allow_trigger(self, requested: str) -> None:
        """Let TriggerMessage ask for `requested` (a MessageTriggerEnum value) that another
        part of the LC sends: the session answers Accepted and emits `Triggered(requested)`."""
        self._registered_triggers.add(requested)

    def register_anew(self) -> None:
        """The next connection begins with a BootNotification even after an Accepted one: it
        goes to another network profile, perhaps another CSMS (B10.FR.10)."""
        self._ever_accepted = False

    def use_message_timeout(self, seconds: float) -> None:
        """The connection's profile's messageTimeout, for the LC's calls from now on."""
        self._timers = replace(self._timers, message_timeout_s=seconds)

    # -- the link ---------------------------------------------------------------------------

    def connected(self, now: float) -> list[Output]:
        self._answering.clear()
        if self._ever_accepted:
            self.state = LinkState.ACCEPTED
            self._last_sent = now
            return self._drain(now)
        self.state = LinkState.BOOTING
        return self._send_boot(now, self._boot_reason)

    def disconnected(self) -> list[Output]:
        self.state = LinkState.DISCONNECTED
        self._boot_due = None
        self._answering.clear()
        lost, self._outstanding = self._outstanding, None
        if lost is None or lost.action == "BootNotification":
            return []
        return [CallFailed(lost.message_id, lost.action, LINK_LOST)]

    # -- the LC's own calls -----------------------------------------------------------------

    def call(self, action: str, payload: dict[str, Any], now: float) -> tuple[str, list[Output]]:
        """Queue one of the LC's calls; it is sent when nothing else is outstanding and the
        CSMS has accepted the LC. Returns its message id and what to do now."""
        problem = self._schemas.check(self._version, action, True, payload)
        if problem is not None:
            raise ValueError(f"{action} request the LC built is invalid: {problem.detail}")
        own = _OwnCall(str(uuid.uuid4()), action, payload)
        self._queue.append(own)
        return own.message_id, self._drain(now)

    @property
    def idle(self) -> bool:
        """No call of the LC's own in flight or waiting to be sent."""
        return self._outstanding is None and not self._queue

    def next_deadline(self) -> float | None:
        candidates = []
        if self._outstanding is not None:
            candidates.append(self._outstanding.deadline)
        if self._boot_due is not None:
            candidates.append(self._boot_due)
        if self.state is LinkState.ACCEPTED:
            candidates.append(self._last_sent + self.heartbeat_interval_s)
        return min(candidates, default=None)

    def tick(self, now: float) -> list[Output]:
        outputs: list[Output] = []
        own = self._outstanding
        if own is not None and now >= own.deadline:
            self._outstanding = None
            outputs.append(CallFailed(own.message_id, own.action, "no answer in time"))
            if own.action == "BootNotification":
                self._boot_due = now
        if self._boot_due is not None and now >= self._boot_due:
            self._boot_due = None
            outputs += self._send_boot(now, self._boot_reason)
        due = self._last_sent + self.heartbeat_interval_s
        if self.state is LinkState.ACCEPTED and now >= due and not self._has_queued("Heartbeat"):
            self._queue.append(_OwnCall(str(uuid.uuid4()), "Heartbeat", {}))
        return outputs + self._drain(now)

    # -- what the CSMS sends ----------------------------------------------------------------

    def receive(self, text: str, now: float) -> list[Output]:
        if self.state is LinkState.DISCONNECTED:
            return []
        frame = parse_frame(text, self._version)
        if isinstance(frame, FrameError):
            return self._frame_error(frame)
        if isinstance(frame, Call):
            return self._incoming_call(frame, now)
        return self._answer_to_own_call(frame, now)

    def answer(self, message_id: str, payload: dict[str, Any], now: float) -> list[Output]:
        """A handler's answer to the CSMS call `message_id`."""
        action = self._answering.pop(message_id, None)
        if action is None:  # the link went down meanwhile: the CSMS no longer waits for it
            return []
        if not self.dialect.status_info:  # the handler's reason has no place in this version
            payload = {key: value for key, value in payload.items() if key != "statusInfo"}
        problem = self._schemas.check(self._version, action, False, payload)
        if problem is not None:
            text = call_error_text(message_id, "InternalError", f"answer not built: {problem}")
        else:
            text = call_result_text(message_id, payload)
        return [Send(text), *self._drain(now)]

    def fail(self, message_id: str, code: str, description: str, now: float) -> list[Output]:
        """The CSMS call `message_id` gets a CALLERROR: `NotSupported` when no handler is
        registered for it, `InternalError` when its handler failed."""
        if self._answering.pop(message_id, None) is None:
            return []
        return [Send(call_error_text(message_id, code, description)), *self._drain(now)]

    # -- inside -----------------------------------------------------------------------------

    def _has_queued(self, action: str) -> bool:
        return any(own.action == action for own in self._queue) or (
            self._outstanding is not None and self._outstanding.action == action
        )

    def _send_boot(self, now: float, reason: str) -> list[Output]:
        self._queue = deque(own for own in self._queue if own.action != "BootNotification")
        self._queue.appendleft(
            _OwnCall(str(uuid.uuid4()), "BootNotification", self._boot_payload(reason), True)
        )
        return self._drain(now)

    def _boot_payload(self, reason: str) -> dict[str, Any]:
        return self.dialect.boot_payload(self._identity, reason)

    def _may_send(self, own: _OwnCall) -> bool:
        return self.state is LinkState.ACCEPTED or own.before_accepted

    def _drain(self, now: float) -> list[Output]:
        if self._outstanding is not None or self.state is LinkState.DISCONNECTED:
            return []
        sendable = next((own for own in self._queue if self._may_send(own)), None)
        if sendable is None:
            return []
        self._queue.remove(sendable)
        sendable.deadline = now + self._timers.message_timeout_s
        self._outstanding = sendable
        self._last_sent = now
        return [Send(call_text(sendable.message_id, sendable.action, sendable.payload))]

    def _frame_error(self, frame: FrameError) -> list[Output]:
        invalid: list[Output] = [InvalidReceived(f"{frame.kind.value}: {frame.detail}")]
        if not frame.expects_answer:
            return invalid
        code = error_code(self._version, frame.kind)
        if code is None:
            return invalid
        return [*invalid, Send(call_error_text(frame.message_id or "-1", code, frame.detail))]

    def _incoming_call(self, frame: Call, now: float) -> list[Output]:
        problem = self._schemas.check(self._version, frame.action, True, frame.payload)
        if problem is not None:
            code = error_code(self._version, problem.kind) or "GenericError"
            return [
                InvalidReceived(f"{frame.action}: {problem.detail}"),
                Send(call_error_text(frame.message_id, code, problem.detail)),
            ]
        if self._seen_before(frame.message_id):
            return [
                ReplayReceived(f"{frame.action} with the message ID {frame.message_id!r} again"),
                Send(call_error_text(frame.message_id, "SecurityError", "message ID used before")),
            ]
        if self.state is LinkState.REJECTED:
            return [Send(call_error_text(frame.message_id, "SecurityError", "not accepted"))]
        self._answering[frame.message_id] = frame.action
        if frame.action in self.dialect.trigger_calls:
            return self._trigger(frame.message_id, frame.action, frame.payload, now)
        return [IncomingCall(frame.message_id, frame.action, frame.payload)]

    def _seen_before(self, message_id: str) -> bool:
        """Whether the CSMS used `message_id` before; remembers it."""
        if message_id in self._seen_call_ids:
            return True
        self._seen_call_ids[message_id] = None
        if len(self._seen_call_ids) > SEEN_CALL_IDS:
            self._seen_call_ids.popitem(last=False)
        return False

    def _trigger(
        self, message_id: str, action: str, payload: dict[str, Any], now: float
    ) -> list[Output]:
        dialect = self.dialect
        asked = payload["requestedMessage"]
        requested = dialect.trigger_calls[action].get(asked, asked)
        triggerable = {"BootNotification", *dialect.triggerable, *self._registered_triggers}
        if dialect.names_a_part(payload) and requested in triggerable:
            status = "Rejected"  # the LC's own messages are about the whole station
        elif (
            requested == "BootNotification"
            and self.state is LinkState.ACCEPTED
            and not dialect.boot_trigger_after_accepted
        ):
            status = "Rejected"  # F06.FR.17: not once the boot is Accepted
        elif requested in triggerable:
            status = "Accepted"
        elif requested in dialect.not_triggerable:
            status = "Rejected"
        else:
            status = "NotImplemented"
        outputs = self.answer(message_id, {"status": status}, now)
        if status == "Accepted" and requested in self._registered_triggers:
            outputs.append(Triggered(requested))
        elif status == "Accepted":
            # F06.FR.05: the triggered message follows the answer to TriggerMessage.
            self._queue.appendleft(self._triggered(requested))
            outputs += self._drain(now)
        return outputs

    def _triggered(self, requested: str) -> _OwnCall:
        if requested == "BootNotification":
            payload = self._boot_payload("Triggered")
        else:
            payload = self.dialect.triggerable[requested]()
        return _OwnCall(str(uuid.uuid4()), requested, payload, before_accepted=True)

    def _answer_to_own_call(self, frame: CallResult | CallError, now: float) -> list[Output]:
        own = self._outstanding
        if own is None or own.message_id != frame.message_id:
            return []  # late or unknown: never matched to another call
        self._outstanding = None
        if isinstance(frame, CallError):
            failed: list[Output] = [CallFailed(own.message_id, own.action, frame.code)]
            if own.action == "BootNotification":
                self._boot_due = now + self._timers.default_retry_s
            return failed + self._drain(now)
        problem = self._schemas.check(self._version, own.action, False, frame.payload)
        if problem is not None:
            invalid: list[Output] = [
                InvalidReceived(f"answer to {own.action}: {problem.detail}"),
                CallFailed(own.message_id, own.action, problem.detail),
            ]
            if own.action == "BootNotification":
                self._boot_due = now + self._timers.default_retry_s
            return invalid + self._drain(now)
        outputs: list[Output] = [CallAnswered(own.message_id, own.action, frame.payload)]
        if "currentTime" in frame.payload:
            outputs += self._check_clock(frame.payload["currentTime"], now)
        if own.action == "BootNotification":
            outputs += self._booted(frame.payload, now)
        return outputs + self._drain(now)

    def _booted(self, payload: dict[str, Any], now: float) -> list[Output]:
        status, interval = payload["status"], int(payload["interval"])
        self.boot_status = status
        if status == "Accepted":
            self.state = LinkState.ACCEPTED
            self._ever_accepted = True
            self.heartbeat_interval_s = interval or self._timers.default_heartbeat_s
            self._queue.extend(
                _OwnCall(str(uuid.uuid4()), action, build())
                for action, build in self.dialect.after_accepted
            )
        else:
            self.state = LinkState.PENDING if status == "Pending" else LinkState.REJECTED
            self._boot_due = now + (interval or self._timers.default_retry_s)
        return [BootAnswered(status, interval)]

    def _check_clock(self, current_time: str, now: float) -> list[Output]:
        try:
            offset = from_ocpp_time(current_time).timestamp() - now
        except ValueError:
            return []
        change = offset - self.clock_offset_s
        self.clock_offset_s = offset
        if abs(change) > self._timers.clock_report_threshold_s:
            return [ClockJumped(offset, change)]
        return []
