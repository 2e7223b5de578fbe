"""Calls on their way to the charger, the CSMS's and the LC's own in one queue
(router/charger_calls.py), and the charger's answers on their way back (sans-I/O)."""

from __future__ import annotations

from ocpp_knowledge.status_info import rejected
from router import events as ev
from router.answer_relay import relay, relay_answer, relay_unmatched
from router.charger_calls import ChargerCalls, Origin, QueuedCall
from router.frames import Call, CallError, CallResult, call_result_text
from router.lc_calls import LcCalls
from router.observe import needs_result
from router.offline import OfflineRelay
from router.outputs import Direction, LateReplyDropped, Observed, Output, Send
from router.session_observer import SessionObserver
from router.validation import Validation


class ToCharger:
    def __init__(
        self,
        identity: str,
        validation: Validation,
        observer: SessionObserver,
        offline: OfflineRelay | None,
        calls: ChargerCalls,
        lc_calls: LcCalls,
        call_timeout_s: float,
        protect_network_profiles: bool,
    ) -> None:
        self._identity = identity
        self._validation = validation
        self._observer = observer
        self._offline = offline
        self._calls = calls
        self._lc_calls = lc_calls
        self._call_timeout_s = call_timeout_s
        self._protect_network_profiles = protect_network_profiles

    def call(self, call: Call, text: str, now: float) -> list[Output]:
        """Relay a call from the CSMS, in its turn."""
        # Checked before relaying in both modes: CSMS calls are rare, and whether the charger's
        # answer is observed depends on the call being valid.
        violation, out = self._validation.check_call(call, Direction.TO_CHARGER)
        if violation is not None and self._validation.strict(Direction.TO_CHARGER):
            return out
        if call.action == "SetNetworkProfile":  # valid or not (OBSERVE relays invalid ones)
            protected = self._protect_network_profiles
            slot = call.payload.get("configurationSlot")
            slot = slot if isinstance(slot, int) else None
            out.append(Observed(ev.NetworkProfileIntercepted(self._identity, slot, protected)))
            if protected:
                return [*out, Send(Direction.TO_CSMS, _network_profile_refused(call.message_id))]
        if self._offline is not None:
            text, remapped = self._offline.transaction_ids.to_charger(call, text)
            out += remapped
        if call.unconfirmed:  # a 2.1 SEND is never answered and may go at any time
            return out + relay(Direction.TO_CHARGER, text, "SEND", call.action)
        keep = violation is None and needs_result(call.action, charger_originated=False)
        queued = QueuedCall(
            call.message_id,
            call.action,
            Origin.CSMS,
            text,
            call.payload if keep else None,
            self._call_timeout_s,
            None,
        )
        self._calls.queue(queued)
        return out + self.send(now)

    def answer(self, answer: CallResult | CallError, text: str, now: float) -> list[Output]:
        """The charger's answer: to the CSMS, or to the LC when the call was its own."""
        outstanding = self._calls.answered(answer.message_id)
        if outstanding is None:
            if self._calls.expired_lc_call(answer.message_id):
                return [LateReplyDropped(answer.message_id)]
            # An answer to a CSMS call we stopped tracking: the CSMS decides what it is worth.
            return relay_unmatched(Direction.TO_CSMS, answer, text)
        if outstanding.origin is Origin.LC:
            return [*self._lc_calls.ended(answer.message_id, answer, now), *self.send(now)]
        if outstanding.orphaned:
            return self.send(now)
        out = relay_answer(
            self._validation, self._observer, Direction.TO_CSMS, answer, text, outstanding
        )
        return out + self.send(now)

    def send(self, now: float) -> list[Output]:
        """The queued calls whose turn it is."""
        out: list[Output] = []
        for head in self._calls.sendable(now):
            if head.origin is Origin.LC:
                out.append(Send(Direction.TO_CHARGER, head.text))
            else:
                out += relay(Direction.TO_CHARGER, head.text, "CALL", head.action)
        return out


def _network_profile_refused(message_id: str) -> str:
    reason = "the site's Local Controller keeps chargers' network profiles"
    return call_result_text(message_id, rejected("LocalController", reason))
