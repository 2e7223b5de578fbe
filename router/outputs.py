"""What a link session tells the asyncio layer to do, in order (sans-I/O outputs)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from router import events as ev
from router.frames import CallError, CallResult, ErrorKind


class Direction(Enum):
    """Where a frame travels."""

    TO_CSMS = "to_csms"
    TO_CHARGER = "to_charger"


@dataclass(frozen=True, slots=True)
class Send:
    direction: Direction
    text: str


@dataclass(frozen=True, slots=True)
class Relayed:
    """A frame was relayed unchanged (for counting by action, direction and type)."""

    direction: Direction
    message_type: str
    action: str
    error_code: str | None = None  # the code of a relayed CALLERROR


@dataclass(frozen=True, slots=True)
class Violation:
    """A frame broke the protocol or its schema; `rejected` says it was not relayed."""

    direction: Direction
    kind: ErrorKind
    action: str | None
    detail: str
    rejected: bool


@dataclass(frozen=True, slots=True)
class LateReplyDropped:
    message_id: str


@dataclass(frozen=True, slots=True)
class LcCallFinished:
    """The end of an LC call: the charger's CALLRESULT or CALLERROR, or None on timeout."""

    message_id: str
    reply: CallResult | CallError | None


@dataclass(frozen=True, slots=True)
class Observed:
    event: ev.Event


Output = Send | Relayed | Violation | LateReplyDropped | LcCallFinished | Observed
