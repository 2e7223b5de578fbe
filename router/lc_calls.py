"""The LC's own calls to one charger (sans-I/O): made here, queued with the CSMS's calls
(router/charger_calls.py), and ended as `LcCallFinished`, or handed back to the refusal
workflow that made them (router/refusals.py).

Answers to LC calls are consumed by the LC and never reach the CSMS.
"""

from __future__ import annotations

import uuid
from typing import Any

from router.charger_calls import ChargerCalls, Origin, QueuedCall
from router.frames import CallError, CallResult, OcppVersion, call_text
from router.outputs import LcCallFinished, Output
from router.refusals import Refusals
from router.validation import Validation


class LcCalls:
    def __init__(
        self,
        identity: str,
        version: OcppVersion,
        validation: Validation,
        queue: ChargerCalls,
        call_timeout_s: float,
    ) -> None:
        self._identity = identity
        self._validation = validation
        self._queue = queue
        self._call_timeout_s = call_timeout_s
        self.refusals = Refusals(identity, version)  # acted on under `hold` only

    def make(
        self, action: str, payload: dict[str, Any], now: float, timeout_s: float | None = None
    ) -> str:
        """Queue a call; its message id. It gives up if it could not be sent within
        `timeout_s`, and once sent the charger has `timeout_s` to answer.

        Raises ValueError when the payload does not conform to the action's schema: that is
        a defect of the caller, not something to put on the wire.
        """
        violation = self._validation.check(action, True, payload)
        if violation is not None:
            raise ValueError(f"{action} for {self._identity}: {violation.detail}")
        message_id = str(uuid.uuid4())
        timeout = self._call_timeout_s if timeout_s is None else timeout_s
        queued = QueuedCall(
            message_id,
            action,
            Origin.LC,
            call_text(message_id, action, payload),
            payload,
            timeout,
            now + timeout,
        )
        self._queue.queue(queued)
        return message_id

    def ended(
        self, message_id: str, reply: CallResult | CallError | None, now: float
    ) -> list[Output]:
        """An LC call was answered (`reply`) or given up (None)."""
        if self.refusals.owns(message_id):
            return self.refusals.call_ended(message_id, reply, now, self.make)
        return [LcCallFinished(message_id, reply)]

    def closed(self, message_ids: list[str]) -> list[LcCallFinished]:
        """The pair is going away: these calls end without a reply. The refusals' own end
        unreported (the journal keeps the refusals)."""
        ended = [message_id for message_id in message_ids if not self.refusals.owns(message_id)]
        self.refusals.close()
        return [LcCallFinished(message_id, None) for message_id in ended]
