"""A charger's call while its CSMS is gone (`hold`, sans-I/O): the answer the LC gives as a
CSMS would, and what it journals first for the CSMS to get later."""

from __future__ import annotations

from collections.abc import Container
from datetime import datetime
from typing import Any

from router.frames import Call, OcppVersion, call_error_text, call_result_text
from router.local_answers import is_journaled, local_answer, periodic_meter_values_of
from router.offline import OfflineRelay
from router.outputs import (
    AnsweredLocally,
    Direction,
    JournalAppend,
    Output,
    ProvisionalIdUsed,
    Send,
    StatusRemembered,
    Violation,
)
from router.validation import Validation


def answer_locally(
    offline: OfflineRelay,
    validation: Validation,
    call: Call,
    text: str,
    now: datetime,
    seen_transactions: Container[str],
    sent_before: bool = False,
) -> tuple[list[Output], dict[str, Any] | None]:
    """The outputs for `call` (`text`), and the payload the charger was answered with (None:
    it got a CALLERROR or no answer).

    `seen_transactions`: the transactions the LC saw start. `sent_before`: the call was on its
    way to the CSMS when the link went.
    """
    version = offline.version
    violation = validation.check(call.action, True, call.payload)
    if violation is not None:
        return [
            Violation(Direction.TO_CSMS, violation.kind, call.action, violation.detail, True),
            validation.error_reply(Direction.TO_CHARGER, call.message_id, violation),
        ], None
    if call.unconfirmed:
        return [], None  # a 2.1 SEND (e.g. a periodic event stream) has no value once stale
    out: list[Output] = []
    provisional = None
    if version is OcppVersion.V16 and call.action == "StartTransaction":
        try:
            provisional = offline.transaction_ids.take()
        except IndexError:  # the reserve is being topped up: the charger will retry
            text_error = call_error_text(call.message_id, "InternalError", "try again")
            return [Send(Direction.TO_CHARGER, text_error)], None
        out.append(ProvisionalIdUsed())
    if is_journaled(version, call.action, call.payload):
        meter_of = periodic_meter_values_of(version, call.action, call.payload)
        seen = meter_of if meter_of in seen_transactions else None
        out.append(JournalAppend(text, provisional, sent_before, meter_of is not None, seen))
    if call.action == "StatusNotification":
        out.append(StatusRemembered(_status_key(version, call.payload), text))
    answer = local_answer(
        version,
        call.action,
        call.payload,
        now,
        offline.boot_answer(),
        offline.authorization(),
        lambda: provisional or 0,
        validation.schemas,
    )
    if answer is None:
        reply = call_error_text(call.message_id, "InternalError", "the CSMS is unreachable")
        return [*out, Send(Direction.TO_CHARGER, reply)], None
    out += [
        Send(Direction.TO_CHARGER, call_result_text(call.message_id, answer)),
        AnsweredLocally(call.action),
    ]
    return out, answer


def _status_key(version: OcppVersion, payload: dict[str, Any]) -> str:
    """The connector a StatusNotification is about: its latest status is replayed."""
    if version is OcppVersion.V16:
        return str(payload.get("connectorId"))
    return f"{payload.get('evseId')}/{payload.get('connectorId')}"
