"""The refused transactions of one charger's link (sans-I/O): the calls the LC makes about
them, and the suspensions it keeps until the sessions end.

When the CSMS refuses the id of a replayed transaction the charger still runs, the LC acts as
the charger would have (router/invalid_id.py walks the steps of one refusal). Each step is an
LC call to the charger, queued with the session's own calls; its end comes back here. A
refusal is journaled (`TransactionRefused`) until it is settled: the charger answered the
stop, or the suspended session ended. One the charger never answered is acted on again at its
next connection (`resume`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from router import events as ev
from router import invalid_id
from router.frames import CallError, CallResult, OcppVersion
from router.outputs import Observed, Output, RefusalCallEnded, RefusalSettled, RefusalStopping

# Queue an LC call to the charger: (action, payload, now) -> its message id.
QueueCall = Callable[[str, dict[str, Any], float], str]


class Refusals:
    """A link's refused transactions. The session's `queue_call` comes with each step rather
    than being kept: kept, it would tie the session and this into a reference cycle that
    outlives a closed link until a full garbage collection."""

    def __init__(self, identity: str, version: OcppVersion) -> None:
        self._identity = identity
        self._version = version
        self._asking: dict[str, tuple[invalid_id.Refusal, invalid_id.Ask]] = {}  # by call id
        # Refused sessions whose energy the LC stopped, by str(id): journaled until they end.
        self._suspended: dict[str, int | str] = {}

    def start(
        self, transaction_id: int | str, evse_id: int | None, now: float, queue_call: QueueCall
    ) -> list[Output]:
        """Act on a refused transaction: ask the charger for its rule first."""
        refusal = invalid_id.Refusal(self._version, transaction_id, evse_id)
        return self._ask(refusal, refusal.start(), now, queue_call)

    def owns(self, message_id: str) -> bool:
        return message_id in self._asking

    def call_ended(
        self,
        message_id: str,
        reply: CallResult | CallError | None,
        now: float,
        queue_call: QueueCall,
    ) -> list[Output]:
        """One of this link's refusal calls ended (None: not answered in time)."""
        refusal, ask = self._asking.pop(message_id)
        answer = _reply(reply)
        outcome = None if ask.step == "rule" else invalid_id.outcome(answer)
        ended = RefusalCallEnded(
            refusal.transaction_id, ask.step, ask.action, _call_outcome(reply), outcome
        )
        out: list[Output] = [ended]
        step = refusal.answered(answer)
        if isinstance(step, invalid_id.Ask):
            return out + self._ask(refusal, step, now, queue_call)
        if step.settled:
            out.append(RefusalSettled(refusal.transaction_id))
        if step.suspended:
            assert refusal.evse_id is not None
            # Kept journaled until the session ends: after an LC restart the balancer must
            # learn again that this session may not draw.
            self._suspended[str(refusal.transaction_id)] = refusal.transaction_id
            out.append(Observed(ev.EnergySuspended(self._identity, refusal.evse_id)))
        return out

    def ended(self, event: ev.Event) -> list[Output]:
        """An observed event; a suspended session that ended is settled."""
        if not self._suspended or not isinstance(event, ev.TransactionEnded):
            return []
        refused = self._suspended.pop(event.transaction_id, None)
        return [] if refused is None else [RefusalSettled(refused)]

    def close(self) -> None:
        """The link is going: its open calls end unanswered; the journal keeps the refusals."""
        self._asking.clear()

    def _ask(
        self, refusal: invalid_id.Refusal, ask: invalid_id.Ask, now: float, queue_call: QueueCall
    ) -> list[Output]:
        self._asking[queue_call(ask.action, ask.payload, now)] = (refusal, ask)
        if ask.step == "stop" and refusal.why_stopped:
            return [RefusalStopping(refusal.transaction_id, refusal.why_stopped)]
        return []


def _reply(reply: CallResult | CallError | None) -> invalid_id.Reply:
    if reply is None:
        return invalid_id.Unanswered.TIMEOUT
    if isinstance(reply, CallError):
        return invalid_id.Unanswered.CALL_ERROR
    payload: dict[str, Any] = reply.payload
    return payload


def _call_outcome(reply: CallResult | CallError | None) -> str:
    """As the LC's own calls are counted: result, error or timeout."""
    if reply is None:
        return "timeout"
    return "error" if isinstance(reply, CallError) else "result"
