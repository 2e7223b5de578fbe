"""One charger's pair of links (charger <-> LC <-> CSMS) as a sans-I/O state machine.

Text and time go in; what to send where, what was observed and what went wrong come out.
The asyncio layer only pumps bytes and executes the outputs in order.

Routing rules (OCPP 2.0.1 Part 4 §6.4 and §4.1.1):
- Every valid frame is relayed as its original text.
- Calls towards the charger come from the CSMS and from the LC itself; they share one FIFO
  queue (router/charger_calls.py).
- Answers to LC calls are consumed by the LC and never reach the CSMS. An answer that arrives after
  its LC call timed out is dropped and reported; an answer nobody waits for any more is relayed
  to the CSMS, whose message id it carries.

This class takes the inputs and hands each to the part whose job it is: the charger's calls
(router/to_csms.py), the calls to the charger (router/to_charger.py) in one queue
(router/charger_calls.py) with the LC's own (router/lc_calls.py), what the relayed frames
tell (router/session_observer.py). Validation policy, per direction: router/validation.py.

Connection loss: without an `OfflineRelay` the pair ends with either link (`close`). With one
(`hold`), `upstream_lost` makes the session answer the charger itself and `upstream_restored`
replays what the CSMS missed before relaying live again; see router/session_hold.py.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ocpp_knowledge.ocpp_time import utc_now
from router.answer_relay import relay
from router.charger_calls import ChargerCalls
from router.frames import Call, CallError, FrameError, OcppVersion, parse_frame
from router.lc_calls import LcCalls
from router.offline import OfflineRelay, ReplayItem
from router.outputs import Direction, LcCallFinished, Output
from router.schemas import SchemaRegistry
from router.session_hold import SessionHold
from router.session_observer import SessionObserver
from router.to_charger import ToCharger
from router.to_csms import ToCsms
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


class LinkSession:
    def __init__(
        self,
        identity: str,
        version: OcppVersion,
        settings: SessionSettings,
        schemas: SchemaRegistry,
        offline: OfflineRelay | None = None,
        wall_clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.identity = identity
        self.version = version
        self.offline = offline  # None: the `close` policy, the pair ends with either link
        self._max_frame_chars = settings.max_frame_chars
        timeout = settings.call_timeout_s
        validation = Validation(
            version, schemas, settings.validation_to_csms, settings.validation_to_charger
        )
        self._charger_calls = ChargerCalls()
        self._lc_calls = LcCalls(identity, version, validation, self._charger_calls, timeout)
        refusals = self._lc_calls.refusals
        self._observer = SessionObserver(identity, version, validation, offline, refusals)
        self._validation = validation
        self._to_csms = ToCsms(validation, self._observer, offline, timeout)
        self._to_charger = ToCharger(
            identity,
            validation,
            self._observer,
            offline,
            self._charger_calls,
            self._lc_calls,
            timeout,
            settings.protect_network_profiles,
        )
        self._hold = None
        if offline is not None:
            self._hold = SessionHold(
                offline,
                validation,
                self._observer,
                refusals,
                self._lc_calls.make,
                timeout,
                wall_clock,
                self.receive_from_charger,
            )

    @property
    def queue_depth(self) -> int:
        return self._charger_calls.depth

    @property
    def csms_calls_in_flight(self) -> bool:
        """Whether a CSMS call waits for the charger's answer (or for its turn to be sent):
        closing the CSMS link now would lose that answer."""
        return self._charger_calls.csms_calls_in_flight

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
        return self._observer.check_pending()

    def route_from_charger(self, text: str, now: float) -> list[Output]:
        frame = parse_frame(text, self.version, self._max_frame_chars)
        if isinstance(frame, FrameError):
            return self._validation.unroutable(Direction.TO_CSMS, frame)
        if isinstance(frame, Call):
            if self._hold is not None:
                held_or_answered = self._hold.charger_call(frame, text)
                if held_or_answered is not None:
                    return held_or_answered
            return self._to_csms.call(frame, text, now)
        if isinstance(frame, CallError) and frame.about_result:
            return relay(Direction.TO_CSMS, text, "CALLRESULTERROR", "")
        return self._to_charger.answer(frame, text, now)

    def route_from_csms(self, text: str, now: float) -> list[Output]:
        frame = parse_frame(text, self.version, self._max_frame_chars)
        if isinstance(frame, FrameError):
            return self._validation.unroutable(Direction.TO_CHARGER, frame)
        if isinstance(frame, Call):
            return self._to_charger.call(frame, text, now)
        if isinstance(frame, CallError) and frame.about_result:
            return relay(Direction.TO_CHARGER, text, "CALLRESULTERROR", "")
        if self._hold is not None and self._hold.owns(frame.message_id):
            return self._hold.replay_answered(frame, now) + self._to_charger.send(now)
        return self._to_csms.answer(frame, text)

    def send_lc_call(
        self, action: str, payload: dict[str, Any], now: float, timeout_s: float | None = None
    ) -> tuple[str, list[Output]]:
        """Queue the LC's own CALL to the charger; its end comes as `LcCallFinished`.

        The call gives up if it could not be sent within `timeout_s`, and once sent the charger
        has `timeout_s` to answer.

        Raises ValueError when the payload does not conform to the action's schema: that is
        a defect of the caller, not something to put on the wire.
        """
        message_id = self._lc_calls.make(action, payload, now, timeout_s)
        return message_id, self._to_charger.send(now)

    def tick(self, now: float) -> list[Output]:
        """Expire calls whose time is up; call at `next_deadline()`."""
        out: list[Output] = []
        for message_id in self._charger_calls.expire(now):
            out += self._lc_calls.ended(message_id, None, now)
        self._to_csms.expire(now)
        if self._hold is not None:
            out += self._hold.tick(now)
        out += self._to_charger.send(now)
        return out

    def next_deadline(self) -> float | None:
        # Asked after every frame: a plain scan, nothing built (a handful of calls are open).
        replay_deadline = None if self._hold is None else self._hold.replay_deadline
        return self._to_csms.earliest(self._charger_calls.earliest(replay_deadline))

    def close(self) -> list[LcCallFinished]:
        """The pair is going away: every LC call still open ends without a reply."""
        self._to_csms.clear()
        return self._lc_calls.closed(self._charger_calls.close())

    # -- the `hold` policy (router/session_hold.py) ------------------------------------------

    def upstream_lost(self, now: float) -> list[Output]:
        """The CSMS link is gone but the charger stays: answer it here from now on."""
        assert self._hold is not None, "upstream_lost needs the hold policy"
        in_flight: list[tuple[Call, str]] = []
        for text in self._to_csms.take_in_flight():
            call = parse_frame(text, self.version, self._max_frame_chars)
            assert isinstance(call, Call), "only calls are kept in flight"
            in_flight.append((call, text))
        out = self._hold.lost(in_flight, now)
        self._charger_calls.csms_gone()
        return out + self._to_charger.send(now)

    def hold_for_replay(self) -> None:
        """The CSMS link is back: new charger calls wait until the backlog is delivered."""
        assert self._hold is not None, "hold_for_replay needs the hold policy"
        self._hold.awaits_replay()

    def refusals_journaled(
        self, refusals: list[tuple[int | str, int | None]], now: float
    ) -> list[Output]:
        """Refusals an earlier link (or LC run) could not finish: the charger never answered.
        Acted on again, each once (`hold`)."""
        assert self._hold is not None, "refusals belong to the hold policy"
        return self._hold.refusals_journaled(refusals, now) + self._to_charger.send(now)

    def provisional_id_reserved(self, transaction_id: int) -> None:
        """A fresh provisional 1.6 transaction id for the reserve (`hold`)."""
        assert self._hold is not None, "provisional ids belong to the hold policy"
        self._hold.provisional_id_reserved(transaction_id)

    def upstream_restored(self, backlog: list[ReplayItem], now: float) -> list[Output]:
        """The CSMS link is (back) up: deliver `backlog` in order, then relay live again."""
        assert self._hold is not None, "upstream_restored needs the hold policy"
        return self._hold.restored(backlog, now)
