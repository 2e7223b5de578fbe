"""The charger's calls on their way to the CSMS, and the CSMS's answers on their way back
(sans-I/O).

A call is tracked until the CSMS answers it or its time is up. Under `hold` its original text
is kept too: should the CSMS link go first, the LC answers it itself (router/session_hold.py).
"""

from __future__ import annotations

from router.answer_relay import relay, relay_answer, relay_unmatched
from router.charger_calls import Origin, Outstanding
from router.frames import Call, CallError, CallResult
from router.learned_answers import LEARNED_FROM
from router.observe import needs_result
from router.offline import OfflineRelay
from router.outputs import Direction, Output
from router.session_observer import SessionObserver
from router.validation import Validation


class ToCsms:
    def __init__(
        self,
        validation: Validation,
        observer: SessionObserver,
        offline: OfflineRelay | None,
        call_timeout_s: float,
    ) -> None:
        self._validation = validation
        self._observer = observer
        self._offline = offline
        self._call_timeout_s = call_timeout_s
        self._at_csms: dict[str, Outstanding] = {}  # charger calls the CSMS has not answered

    def call(self, call: Call, text: str, now: float) -> list[Output]:
        """Relay a call from the charger."""
        strict = self._validation.strict(Direction.TO_CSMS)
        out: list[Output] = []
        if strict:
            violation, out = self._validation.check_call(call, Direction.TO_CSMS)
            if violation is not None:
                return out
        original = text
        if self._offline is not None:
            text, remapped = self._offline.transaction_ids.to_csms(call, text)
            out += remapped
        record = None
        if not call.unconfirmed:
            keep = needs_result(call.action, charger_originated=True) or (
                self._offline is not None and call.action in LEARNED_FROM
            )
            record = self._at_csms[call.message_id] = Outstanding(
                call.action,
                Origin.CHARGER,
                now + self._call_timeout_s,
                call.payload if keep else None,
                original if self._offline is not None else None,
            )
        kind = "SEND" if call.unconfirmed else "CALL"
        out += relay(Direction.TO_CSMS, text, kind, call.action)
        if strict:
            return out + self._observer.charger_call(call.action, call.payload)
        self._observer.defer(Direction.TO_CSMS, call.action, call.payload, True, record)
        return out

    def answer(self, answer: CallResult | CallError, text: str) -> list[Output]:
        """Relay the CSMS's answer to a charger call."""
        outstanding = self._at_csms.pop(answer.message_id, None)
        if outstanding is None:
            if self._offline is not None and self._offline.was_replayed(answer.message_id):
                return []  # the charger was answered by the LC long ago
            # Late or unknown: the charger matches it against its own calls, as it would directly.
            return relay_unmatched(Direction.TO_CHARGER, answer, text)
        return relay_answer(
            self._validation, self._observer, Direction.TO_CHARGER, answer, text, outstanding
        )

    def expire(self, now: float) -> None:
        """Stop tracking calls whose time is up (a late answer is relayed unmatched)."""
        for message_id, outstanding in list(self._at_csms.items()):
            if outstanding.deadline <= now:
                del self._at_csms[message_id]

    def earliest(self, deadline: float | None) -> float | None:
        """The earlier of `deadline` and the next call's (nothing built: asked per frame)."""
        for outstanding in self._at_csms.values():
            if deadline is None or outstanding.deadline < deadline:
                deadline = outstanding.deadline
        return deadline

    def take_in_flight(self) -> list[str]:
        """The CSMS link is gone: the texts of the calls it may or may not have got (kept
        under `hold` only); none is tracked any more."""
        texts = [o.text for o in self._at_csms.values() if o.text is not None]
        self._at_csms.clear()
        return texts

    def clear(self) -> None:
        self._at_csms.clear()
