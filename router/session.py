"""One charger's pair of links (charger <-> LC <-> CSMS) as a sans-I/O state machine.

Text and time go in; what to send where, what was observed and what went wrong come out.
The asyncio layer only pumps bytes and executes the outputs in order.

Routing rules (OCPP 2.0.1 Part 4 §6.4 and §4.1.1):
- Every valid frame is relayed as its original text.
- Calls towards the charger come from the CSMS and from the LC itself; they share one FIFO
  queue (router/charger_calls.py).
- Answers to LC calls are consumed here and never reach the CSMS. An answer that arrives after
  its LC call timed out is dropped and reported; an answer nobody waits for any more is relayed
  to the CSMS, whose message id it carries.

Validation policy, per direction: router/validation.py.

Connection loss: without an `OfflineRelay` the pair ends with either link (`close`). With one
(`hold`), `upstream_lost` makes the session answer the charger itself and `upstream_restored`
replays what the CSMS missed before relaying live again; see router/offline.py.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from router import events as ev
from router.charger_calls import ChargerCalls, Origin, Outstanding, QueuedCall
from router.frames import (
    Call,
    CallError,
    CallResult,
    FrameError,
    OcppVersion,
    call_result_text,
    call_text,
    parse_frame,
)
from router.observe import needs_result, observe_charger_request, observe_result
from router.offline import LEARNED_FROM, OfflineRelay, ReplayItem, UpstreamState
from router.offline_answers import answer_locally
from router.outputs import (
    Direction,
    LateReplyDropped,
    LcCallFinished,
    Observed,
    OfflineOutput,
    Output,
    Relayed,
    Send,
    TransactionRefused,
)
from router.refusals import Refusals
from router.schemas import SchemaRegistry
from router.validation import Validation, ValidationMode


@dataclass(frozen=True, slots=True)
class SessionSettings:
    call_timeout_s: float = 30.0
    max_frame_chars: int = 65536
    validation_to_csms: ValidationMode = ValidationMode.OBSERVE
    validation_to_charger: ValidationMode = ValidationMode.OBSERVE
    # A CSMS's SetNetworkProfile to a charger could point it away from the LC, out of load
    # control: True answers it Rejected instead of relaying it (either way it is reported).
    protect_network_profiles: bool = False


# -- state -------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Unchecked:
    """A frame relayed in OBSERVE mode, to be checked and observed once it is on its way."""

    direction: Direction
    action: str
    payload: dict[str, Any]
    is_request: bool
    outstanding: Outstanding | None  # a charger call's own record, or the call answered


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _network_profile_refused(message_id: str) -> str:
    return call_result_text(
        message_id,
        {
            "status": "Rejected",
            "statusInfo": {
                "reasonCode": "LocalController",
                "additionalInfo": "the site's Local Controller keeps chargers' network profiles",
            },
        },
    )


class LinkSession:
    def __init__(
        self,
        identity: str,
        version: OcppVersion,
        settings: SessionSettings,
        schemas: SchemaRegistry,
        offline: OfflineRelay | None = None,
        wall_clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        self.identity = identity
        self.version = version
        self.offline = offline  # None: the `close` policy, the pair ends with either link
        self._settings = settings
        self._validation = Validation(
            version, schemas, settings.validation_to_csms, settings.validation_to_charger
        )
        self._wall_clock = wall_clock
        self._replay_deadline: float | None = None
        self._unchecked: list[_Unchecked] = []
        self._at_csms: dict[str, Outstanding] = {}  # charger calls the CSMS has not answered
        self._to_charger = ChargerCalls()
        self._transaction_evses: dict[str, int] = {}  # 2.0.1 transaction id -> EVSE id
        self._refusals = Refusals(identity, version)  # `hold` only

    @property
    def queue_depth(self) -> int:
        return self._to_charger.depth

    @property
    def csms_calls_in_flight(self) -> bool:
        """Whether a CSMS call waits for the charger's answer (or for its turn to be sent):
        closing the CSMS link now would lose that answer."""
        return self._to_charger.csms_calls_in_flight

    # -- inputs ------------------------------------------------------------------------------

    def receive_from_charger(self, text: str, now: float) -> list[Output]:
        return self.route_from_charger(text, now) + self.check_pending()

    def receive_from_csms(self, text: str, now: float) -> list[Output]:
        return self.route_from_csms(text, now) + self.check_pending()

    def check_pending(self) -> list[Output]:
        """Schema-check and observe what was relayed unchecked (OBSERVE mode).

        In OBSERVE mode the check cannot change what is relayed, so the asyncio layer writes
        the frame first and calls this right after: checking a payload costs far more than
        relaying it, and it no longer delays the frame.
        """
        out: list[Output] = []
        for item in self._unchecked:
            outstanding = item.outstanding
            violation = self._validation.check(item.action, item.is_request, item.payload)
            if violation is not None:
                out.append(self._validation.violation(item.direction, violation, item.action))
                if item.is_request and outstanding is not None:
                    outstanding.request = None  # its answer is not observed either
            elif item.is_request:
                out += self._observe_charger_call(item.action, item.payload)
            elif outstanding is not None:
                out += self._observe_answer(outstanding, item.payload)
        self._unchecked.clear()
        return out

    def route_from_charger(self, text: str, now: float) -> list[Output]:
        frame = parse_frame(text, self.version, self._settings.max_frame_chars)
        if isinstance(frame, FrameError):
            return self._validation.unroutable(Direction.TO_CSMS, frame)
        if isinstance(frame, Call):
            offline = self.offline
            if offline is not None and offline.state is UpstreamState.REPLAYING:
                offline.hold(text)  # the CSMS gets it after what came before
                return []
            if offline is not None and offline.state is UpstreamState.DOWN:
                return self._answer_locally(frame, text)
            return self._call_from_charger(frame, text, now)
        if isinstance(frame, CallError) and frame.about_result:
            return self._relay(Direction.TO_CSMS, text, "CALLRESULTERROR", "")
        return self._answer_from_charger(frame, text, now)

    def route_from_csms(self, text: str, now: float) -> list[Output]:
        frame = parse_frame(text, self.version, self._settings.max_frame_chars)
        if isinstance(frame, FrameError):
            return self._validation.unroutable(Direction.TO_CHARGER, frame)
        if isinstance(frame, Call):
            return self._call_from_csms(frame, text, now)
        if isinstance(frame, CallError) and frame.about_result:
            return self._relay(Direction.TO_CHARGER, text, "CALLRESULTERROR", "")
        if self.offline is not None and self.offline.owns(frame.message_id):
            return self._replay_answered(frame, now)
        return self._answer_from_csms(frame, text)

    def send_lc_call(
        self, action: str, payload: dict[str, Any], now: float, timeout_s: float | None = None
    ) -> tuple[str, list[Output]]:
        """Queue the LC's own CALL to the charger; its end comes as `LcCallFinished`.

        The call gives up if it could not be sent within `timeout_s`, and once sent the charger
        has `timeout_s` to answer.

        Raises ValueError when the payload does not conform to the action's schema: that is
        a defect of the caller, not something to put on the wire.
        """
        message_id = self._queue_lc_call(action, payload, now, timeout_s)
        return message_id, self._drain(now)

    def _queue_lc_call(
        self, action: str, payload: dict[str, Any], now: float, timeout_s: float | None = None
    ) -> str:
        violation = self._validation.check(action, True, payload)
        if violation is not None:
            raise ValueError(f"{action} for {self.identity}: {violation.detail}")
        message_id = str(uuid.uuid4())
        timeout = self._settings.call_timeout_s if timeout_s is None else timeout_s
        queued = QueuedCall(
            message_id,
            action,
            Origin.LC,
            call_text(message_id, action, payload),
            payload,
            timeout,
            now + timeout,
        )
        self._to_charger.queue(queued)
        return message_id

    def _lc_call_ended(
        self, message_id: str, reply: CallResult | CallError | None, now: float
    ) -> list[Output]:
        if self._refusals.owns(message_id):
            return self._refusals.call_ended(message_id, reply, now, self._queue_lc_call)
        return [LcCallFinished(message_id, reply)]

    def tick(self, now: float) -> list[Output]:
        """Expire calls whose time is up; call at `next_deadline()`."""
        out: list[Output] = []
        for message_id in self._to_charger.expire(now):
            out += self._lc_call_ended(message_id, None, now)
        for message_id, outstanding in list(self._at_csms.items()):
            if outstanding.deadline <= now:
                del self._at_csms[message_id]
        if self._replay_deadline is not None and self._replay_deadline <= now:
            assert self.offline is not None
            resent = self.offline.replay_deadline_passed()
            self._replay_deadline = now + self._settings.call_timeout_s if resent else None
            out += resent
        out += self._drain(now)
        return out

    def next_deadline(self) -> float | None:
        # Asked after every frame: a plain scan, nothing built (a handful of calls are open).
        earliest = self._to_charger.earliest(self._replay_deadline)
        for outstanding in self._at_csms.values():
            if earliest is None or outstanding.deadline < earliest:
                earliest = outstanding.deadline
        return earliest

    # -- the `hold` policy -------------------------------------------------------------------

    def upstream_lost(self, now: float) -> list[Output]:
        """The CSMS link is gone but the charger stays: answer it here from now on."""
        offline = self.offline
        assert offline is not None, "upstream_lost needs the hold policy"
        held = offline.went_down()
        self._replay_deadline = None
        out: list[Output] = []
        # Calls the CSMS may or may not have got: answered and journaled here (at-least-once).
        in_flight = [o.text for o in self._at_csms.values() if o.text is not None]
        self._at_csms.clear()
        for text in in_flight:
            call = parse_frame(text, self.version, self._settings.max_frame_chars)
            assert isinstance(call, Call), "only calls are kept in flight"
            out += self._answer_locally(call, text, sent_before=True)
        for text in held:
            out += self.receive_from_charger(text, now)
        self._to_charger.csms_gone()
        return out + self._drain(now)

    def hold_for_replay(self) -> None:
        """The CSMS link is back: new charger calls wait until the backlog is delivered."""
        assert self.offline is not None, "hold_for_replay needs the hold policy"
        self.offline.awaits_replay()

    def refusals_journaled(
        self, refusals: list[tuple[int | str, int | None]], now: float
    ) -> list[Output]:
        """Refusals an earlier link (or LC run) could not finish: the charger never answered.
        Acted on again, each once (`hold`)."""
        assert self.offline is not None, "refusals belong to the hold policy"
        out: list[Output] = []
        for transaction_id, evse_id in refusals:
            self.offline.refused_before(transaction_id)
            out += self._refusals.start(transaction_id, evse_id, now, self._queue_lc_call)
        return out + self._drain(now)

    def provisional_id_reserved(self, transaction_id: int) -> None:
        """A fresh provisional 1.6 transaction id for the reserve (`hold`)."""
        assert self.offline is not None, "provisional ids belong to the hold policy"
        self.offline.provisional_id_reserved(transaction_id)

    def upstream_restored(self, backlog: list[ReplayItem], now: float) -> list[Output]:
        """The CSMS link is (back) up: deliver `backlog` in order, then relay live again."""
        assert self.offline is not None, "upstream_restored needs the hold policy"
        sends, more = self.offline.begin_replay(backlog)
        self._replay_deadline = now + self._settings.call_timeout_s if sends else None
        return [*more, *sends, *self._flush_held(now)]

    def _replay_answered(self, answer: CallResult | CallError, now: float) -> list[Output]:
        assert self.offline is not None
        sends, more = self.offline.replay_answered(answer)
        self._replay_deadline = now + self._settings.call_timeout_s if sends else None
        # A 1.6 id mapping commits before the next frame goes; the delivery's acknowledgement
        # is queued ahead of it and commits with others: a crash repeats at most the few whose
        # commit had not happened, identical and in order (at-least-once, never reordered).
        more = [self._with_refused_evse(output) for output in more]
        # Journaled first (in `more`), then the charger is asked what to do about it.
        asked: list[Output] = []
        for output in more:
            if isinstance(output, TransactionRefused):
                asked += self._refusals.start(
                    output.transaction_id, output.evse_id, now, self._queue_lc_call
                )
        return [*more, *sends, *self._flush_held(now), *asked, *self._drain(now)]

    def _with_refused_evse(self, output: OfflineOutput) -> OfflineOutput:
        """Name the EVSE of a refused 2.0.1 transaction whose event left it out."""
        if not isinstance(output, TransactionRefused) or output.evse_id is not None:
            return output
        return replace(output, evse_id=self._transaction_evses.get(str(output.transaction_id)))

    def _flush_held(self, now: float) -> list[Output]:
        """Relay the charger's calls that waited behind the replay, once it is done."""
        out: list[Output] = []
        while self.offline is not None and (text := self.offline.release_held()) is not None:
            out += self.receive_from_charger(text, now)
        return out

    def _answer_locally(self, call: Call, text: str, sent_before: bool = False) -> list[Output]:
        """Answer the charger as a CSMS would (router/offline_answers.py), and observe it."""
        assert self.offline is not None
        out, answer = answer_locally(
            self.offline,
            self._validation,
            call,
            text,
            self._wall_clock(),
            self._transaction_evses,
            sent_before,
        )
        if answer is None:
            return out
        observed = observe_charger_request(self.identity, self.version, call.action, call.payload)
        observed += observe_result(
            self.identity, self.version, call.action, True, call.payload, answer
        )
        return out + self._observed([self._with_evse(event) for event in observed])

    def close(self) -> list[LcCallFinished]:
        """The pair is going away: every LC call still open ends without a reply."""
        ended = self._to_charger.close()
        ended = [message_id for message_id in ended if not self._refusals.owns(message_id)]
        self._refusals.close()
        self._at_csms.clear()
        return [LcCallFinished(message_id, None) for message_id in ended]

    # -- charger -> CSMS ---------------------------------------------------------------------

    def _call_from_charger(self, call: Call, text: str, now: float) -> list[Output]:
        strict = self._validation.strict(Direction.TO_CSMS)
        out: list[Output] = []
        if strict:
            violation, out = self._validation.check_call(call, Direction.TO_CSMS)
            if violation is not None:
                return out
        original = text
        if self.offline is not None:
            text, remapped = self.offline.to_csms(call, text)
            out += remapped
        record = None
        if not call.unconfirmed:
            keep = needs_result(call.action, charger_originated=True) or (
                self.offline is not None and call.action in LEARNED_FROM
            )
            record = self._at_csms[call.message_id] = Outstanding(
                call.action,
                Origin.CHARGER,
                now + self._settings.call_timeout_s,
                call.payload if keep else None,
                original if self.offline is not None else None,
            )
        kind = "SEND" if call.unconfirmed else "CALL"
        out += self._relay(Direction.TO_CSMS, text, kind, call.action)
        if strict:
            return out + self._observe_charger_call(call.action, call.payload)
        self._unchecked.append(
            _Unchecked(Direction.TO_CSMS, call.action, call.payload, True, record)
        )
        return out

    def _observe_charger_call(self, action: str, payload: dict[str, Any]) -> list[Output]:
        observed = observe_charger_request(self.identity, self.version, action, payload)
        return self._observed([self._with_evse(event) for event in observed])

    def _observed(self, events: list[ev.Event]) -> list[Output]:
        out: list[Output] = []
        for event in events:
            out.append(Observed(event))
            out += self._refusals.ended(event)
        return out

    def _with_evse(self, event: ev.Event) -> ev.Event:
        """Name the EVSE in 2.0.1 transaction events that leave it out after the first one."""
        if isinstance(event, ev.TransactionStarted) and event.evse_id is not None:
            self._transaction_evses[event.transaction_id] = event.evse_id
        elif isinstance(event, ev.TransactionUpdated | ev.MeterSampled | ev.TransactionEnded):
            transaction = event.transaction_id
            if transaction is not None:
                if event.evse_id is None and transaction in self._transaction_evses:
                    event = replace(event, evse_id=self._transaction_evses[transaction])
                if isinstance(event, ev.TransactionEnded):
                    self._transaction_evses.pop(transaction, None)
        return event

    def _answer_from_csms(self, answer: CallResult | CallError, text: str) -> list[Output]:
        outstanding = self._at_csms.pop(answer.message_id, None)
        if outstanding is None:
            if self.offline is not None and self.offline.was_replayed(answer.message_id):
                return []  # the charger was answered by the LC long ago
            # Late or unknown: the charger matches it against its own calls, as it would directly.
            return self._relay_unmatched(Direction.TO_CHARGER, answer, text)
        return self._answer(Direction.TO_CHARGER, answer, text, outstanding)

    # -- CSMS -> charger ---------------------------------------------------------------------

    def _call_from_csms(self, call: Call, text: str, now: float) -> list[Output]:
        # Checked before relaying in both modes: CSMS calls are rare, and whether the charger's
        # answer is observed depends on the call being valid.
        violation, out = self._validation.check_call(call, Direction.TO_CHARGER)
        if violation is not None and self._validation.strict(Direction.TO_CHARGER):
            return out
        if call.action == "SetNetworkProfile":  # valid or not (OBSERVE relays invalid ones)
            protected = self._settings.protect_network_profiles
            slot = call.payload.get("configurationSlot")
            slot = slot if isinstance(slot, int) else None
            out.append(Observed(ev.NetworkProfileIntercepted(self.identity, slot, protected)))
            if protected:
                return [*out, Send(Direction.TO_CSMS, _network_profile_refused(call.message_id))]
        if self.offline is not None:
            text, remapped = self.offline.to_charger(call, text)
            out += remapped
        if call.unconfirmed:  # a 2.1 SEND is never answered and may go at any time
            return out + self._relay(Direction.TO_CHARGER, text, "SEND", call.action)
        keep = violation is None and needs_result(call.action, charger_originated=False)
        queued = QueuedCall(
            call.message_id,
            call.action,
            Origin.CSMS,
            text,
            call.payload if keep else None,
            self._settings.call_timeout_s,
            None,
        )
        self._to_charger.queue(queued)
        return out + self._drain(now)

    def _answer_from_charger(
        self, answer: CallResult | CallError, text: str, now: float
    ) -> list[Output]:
        outstanding = self._to_charger.answered(answer.message_id)
        if outstanding is None:
            if self._to_charger.expired_lc_call(answer.message_id):
                return [LateReplyDropped(answer.message_id)]
            # An answer to a CSMS call we stopped tracking: the CSMS decides what it is worth.
            return self._relay_unmatched(Direction.TO_CSMS, answer, text)
        if outstanding.origin is Origin.LC:
            return [*self._lc_call_ended(answer.message_id, answer, now), *self._drain(now)]
        if outstanding.orphaned:
            return self._drain(now)
        return self._answer(Direction.TO_CSMS, answer, text, outstanding) + self._drain(now)

    def _drain(self, now: float) -> list[Output]:
        out: list[Output] = []
        for head in self._to_charger.sendable(now):
            if head.origin is Origin.LC:
                out.append(Send(Direction.TO_CHARGER, head.text))
            else:
                out += self._relay(Direction.TO_CHARGER, head.text, "CALL", head.action)
        return out

    # -- shared ------------------------------------------------------------------------------

    def _answer(
        self,
        direction: Direction,
        answer: CallResult | CallError,
        text: str,
        outstanding: Outstanding,
    ) -> list[Output]:
        """Relay an answer to a relayed call, checking and observing it."""
        if isinstance(answer, CallError):
            return self._relay(direction, text, "CALLERROR", outstanding.action, answer.code)
        if not self._validation.knows(outstanding.action):
            # The call's unknown action was reported already; its answer has no schema.
            return self._relay(direction, text, "CALLRESULT", outstanding.action)
        if not self._validation.strict(direction):
            out = self._relay(direction, text, "CALLRESULT", outstanding.action)
            self._unchecked.append(
                _Unchecked(direction, outstanding.action, answer.payload, False, outstanding)
            )
            return out
        violation = self._validation.check(outstanding.action, False, answer.payload)
        if violation is not None:
            return [
                self._validation.violation(direction, violation, outstanding.action),
                self._validation.error_reply(direction, answer.message_id, violation),
            ]
        out = self._relay(direction, text, "CALLRESULT", outstanding.action)
        return out + self._observe_answer(outstanding, answer.payload)

    def _observe_answer(self, outstanding: Outstanding, payload: dict[str, Any]) -> list[Output]:
        """What a valid answer to a relayed call tells: events, and what hold learns from it."""
        if outstanding.request is None:
            return []
        out: list[Output] = []
        charger_originated = outstanding.origin is Origin.CHARGER
        if self.offline is not None and charger_originated and outstanding.action in LEARNED_FROM:
            out += self.offline.learn(outstanding.action, outstanding.request, payload)
        observed = observe_result(
            self.identity,
            self.version,
            outstanding.action,
            charger_originated,
            outstanding.request,
            payload,
        )
        return out + self._observed(observed)

    def _relay_unmatched(
        self, direction: Direction, answer: CallResult | CallError, text: str
    ) -> list[Output]:
        if isinstance(answer, CallError):
            return self._relay(direction, text, "CALLERROR", "", answer.code)
        return self._relay(direction, text, "CALLRESULT", "")

    @staticmethod
    def _relay(
        direction: Direction, text: str, message_type: str, action: str, code: str | None = None
    ) -> list[Output]:
        return [Send(direction, text), Relayed(direction, message_type, action, code)]
