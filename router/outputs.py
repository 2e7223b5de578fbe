"""What a link session tells the asyncio layer to do, in order (sans-I/O outputs)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any

from router import events as ev
from router.frames import CallError, CallResult, ErrorKind


class Direction(Enum):
    """Where a frame travels."""

    TO_CSMS = "to_csms"
    TO_CHARGER = "to_charger"

    @property
    def back(self) -> Direction:
        """Where an answer to a frame travelling this way goes."""
        return Direction.TO_CHARGER if self is Direction.TO_CSMS else Direction.TO_CSMS


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


# -- offline hold: persisted by the asyncio layer before the frames that depend on them ---


@dataclass(frozen=True, slots=True)
class JournalAppend:
    text: str
    provisional_transaction_id: int | None = None
    # The CSMS may already hold this exact frame (it was on its way when the link went): the
    # replay must repeat it byte for byte, so the CSMS can tell the copy from a new message.
    sent_before: bool = False
    # A periodic meter value: the journal's bounds may drop it (router/journal_bounds.py),
    # except the latest of `transaction`, a transaction the LC saw start (None: one it did not).
    periodic: bool = False
    transaction: str | None = None


@dataclass(frozen=True, slots=True)
class ReplayDelivered:
    seq: int


@dataclass(frozen=True, slots=True)
class ReplayFinished:
    """The journal and the statuses are delivered; the charger is live again."""

    # Journaled statuses were among what was delivered: the journal forgets them. Without
    # any, nothing is written (a connection with nothing to replay costs no journal write).
    statuses_delivered: bool = False


@dataclass(frozen=True, slots=True)
class TransactionMapped:
    provisional: int
    csms_id: int


@dataclass(frozen=True, slots=True)
class AuthorizationLearned:
    scope: str
    id_token: str
    info: dict[str, Any]
    expires_at: float | None


@dataclass(frozen=True, slots=True)
class BootLearned:
    status: str  # Accepted, Pending or Rejected
    interval_s: int


@dataclass(frozen=True, slots=True)
class StatusRemembered:
    connector_key: str
    text: str


@dataclass(frozen=True, slots=True)
class AnsweredLocally:
    action: str


@dataclass(frozen=True, slots=True)
class ProvisionalIdUsed:
    """One id of the reserve was handed out: top the reserve up."""


@dataclass(frozen=True, slots=True)
class Replayed:
    action: str


@dataclass(frozen=True, slots=True)
class IdRemapped:
    direction: Direction


@dataclass(frozen=True, slots=True)
class TransactionRefused:
    """The CSMS refused the id of a replayed transaction the charger still runs: act as the
    charger would have (router/invalid_id.py). `transaction_id` is the id the charger knows
    (1.6: the provisional one); `evse_id` is the 1.6 connector or 2.0.1 EVSE, None if unknown."""

    transaction_id: int | str
    evse_id: int | None


@dataclass(frozen=True, slots=True)
class RefusalCallEnded:
    """A call the LC made about a refused transaction (router/refusals.py) ended: counted,
    and (for a stop or a suspension) logged."""

    transaction_id: int | str
    step: str  # "rule", "suspend" or "stop"
    action: str
    call_outcome: str  # as the LC's own calls are counted: result, error or timeout
    outcome: str | None  # a suspend or stop: accepted, rejected or timeout


@dataclass(frozen=True, slots=True)
class RefusalStopping:
    """The LC stops a refused transaction although the charger's rule said to suspend it."""

    transaction_id: int | str
    why: str


@dataclass(frozen=True, slots=True)
class RefusalSettled:
    """Nothing is left to do about a refused transaction: forget it in the journal."""

    transaction_id: int | str


OfflineOutput = (
    JournalAppend
    | ReplayDelivered
    | ReplayFinished
    | TransactionMapped
    | AuthorizationLearned
    | BootLearned
    | StatusRemembered
    | AnsweredLocally
    | ProvisionalIdUsed
    | Replayed
    | IdRemapped
    | TransactionRefused
    | RefusalSettled
)


Output = (
    Send
    | Relayed
    | Violation
    | LateReplyDropped
    | LcCallFinished
    | Observed
    | RefusalCallEnded
    | RefusalStopping
    | OfflineOutput
)
