"""Relaying a frame as its original text, and an answer to a relayed call checked and observed
on its way (sans-I/O): the same for both directions of a charger's session."""

from __future__ import annotations

from router.charger_calls import Outstanding
from router.frames import CallError, CallResult
from router.outputs import Direction, Output, Relayed, Send
from router.session_observer import SessionObserver
from router.validation import Validation


def relay(
    direction: Direction, text: str, message_type: str, action: str, code: str | None = None
) -> list[Output]:
    return [Send(direction, text), Relayed(direction, message_type, action, code)]


def relay_unmatched(
    direction: Direction, answer: CallResult | CallError, text: str
) -> list[Output]:
    """An answer to no call being tracked: its receiver matches it against its own calls."""
    if isinstance(answer, CallError):
        return relay(direction, text, "CALLERROR", "", answer.code)
    return relay(direction, text, "CALLRESULT", "")


def relay_answer(
    validation: Validation,
    observer: SessionObserver,
    direction: Direction,
    answer: CallResult | CallError,
    text: str,
    outstanding: Outstanding,
) -> list[Output]:
    """Relay an answer to a relayed call, checking and observing it."""
    if isinstance(answer, CallError):
        return relay(direction, text, "CALLERROR", outstanding.action, answer.code)
    if not validation.knows(outstanding.action):
        # The call's unknown action was reported already; its answer has no schema.
        return relay(direction, text, "CALLRESULT", outstanding.action)
    if not validation.strict(direction):
        out = relay(direction, text, "CALLRESULT", outstanding.action)
        observer.defer(direction, outstanding.action, answer.payload, False, outstanding)
        return out
    violation = validation.check(outstanding.action, False, answer.payload)
    if violation is not None:
        return [
            validation.violation(direction, violation, outstanding.action),
            validation.error_reply(direction, answer.message_id, violation),
        ]
    out = relay(direction, text, "CALLRESULT", outstanding.action)
    return out + observer.answer(outstanding, answer.payload)
