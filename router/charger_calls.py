"""The calls going to one charger (sans-I/O): one FIFO queue for the CSMS's and the LC's own.

OCPP-J allows one outstanding CALL per direction, so the two share one queue: an LC call is
sent only when nothing is outstanding at the charger, and a CSMS call waits while an LC call
is outstanding. (CSMS calls are not held back behind other CSMS calls: the CSMS paces itself,
and a direct connection would deliver them at once.) LC calls give up when they could not be
sent in time; any call gives up when the charger does not answer in time.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from enum import Enum
from typing import Any

# Ids of timed-out LC calls are remembered so their late answers (even repeated ones) are
# recognised and dropped; a charger answers within minutes if at all.
_EXPIRED_LC_IDS_KEPT = 4096


class Origin(Enum):
    CHARGER = "charger"
    CSMS = "csms"
    LC = "lc"


@dataclass(slots=True)
class Outstanding:
    """A call sent and not answered yet (either way)."""

    action: str
    origin: Origin
    deadline: float
    request: dict[str, Any] | None  # kept only when its answer must be observed
    text: str | None = None  # a charger call under `hold`: answered here if the CSMS goes
    orphaned: bool = False  # a CSMS call whose CSMS link is gone: its answer is dropped


@dataclass(slots=True)
class QueuedCall:
    message_id: str
    action: str
    origin: Origin
    text: str
    request: dict[str, Any] | None
    timeout_s: float  # how long the charger has to answer once the call is sent
    deadline: float | None  # LC calls give up if not sent by then


class ChargerCalls:
    def __init__(self) -> None:
        self._outstanding: dict[str, Outstanding] = {}  # calls the charger has not answered
        # Calls waiting to go to the charger: a list, as it is short and usually empty (an empty
        # deque costs ~760 bytes on each of thousands of links).
        self._queue: list[QueuedCall] = []
        self._expired_lc_ids: OrderedDict[str, None] = OrderedDict()

    @property
    def depth(self) -> int:
        """Calls waiting to be sent."""
        return len(self._queue)

    @property
    def csms_calls_in_flight(self) -> bool:
        """A CSMS call waits for the charger's answer (or for its turn to be sent)."""
        return any(
            o.origin is Origin.CSMS and not o.orphaned for o in self._outstanding.values()
        ) or any(q.origin is Origin.CSMS for q in self._queue)

    def queue(self, call: QueuedCall) -> None:
        self._queue.append(call)

    def sendable(self, now: float) -> list[QueuedCall]:
        """The queued calls that may go to the charger now, in order; sent from now on."""
        out: list[QueuedCall] = []
        while self._queue:
            head = self._queue[0]
            lc_outstanding = any(o.origin is Origin.LC for o in self._outstanding.values())
            if lc_outstanding or (head.origin is Origin.LC and self._outstanding):
                break
            self._queue.pop(0)
            self._outstanding[head.message_id] = Outstanding(
                head.action, head.origin, now + head.timeout_s, head.request
            )
            out.append(head)
        return out

    def answered(self, message_id: str) -> Outstanding | None:
        """The call the charger answered; None when none is outstanding by that id."""
        return self._outstanding.pop(message_id, None)

    def expired_lc_call(self, message_id: str) -> bool:
        """An LC call that timed out: its answer comes too late."""
        return message_id in self._expired_lc_ids

    def expire(self, now: float) -> list[str]:
        """Give up the calls whose time is up; the ids of the LC's own among them."""
        ended: list[str] = []
        for message_id, outstanding in list(self._outstanding.items()):
            if outstanding.deadline <= now:
                del self._outstanding[message_id]
                if outstanding.origin is Origin.LC:
                    self._remember_expired(message_id)
                    ended.append(message_id)
        for queued in [q for q in self._queue if q.deadline is not None and q.deadline <= now]:
            self._queue.remove(queued)
            ended.append(queued.message_id)
        return ended

    def earliest(self, deadline: float | None) -> float | None:
        """The earlier of `deadline` and this queue's next one (nothing built: asked per frame)."""
        for outstanding in self._outstanding.values():
            if deadline is None or outstanding.deadline < deadline:
                deadline = outstanding.deadline
        for queued in self._queue:
            if queued.deadline is not None and (deadline is None or queued.deadline < deadline):
                deadline = queued.deadline
        return deadline

    def csms_gone(self) -> None:
        """The CSMS link is gone: nobody is left to get the answers to its calls. One the
        charger is handling still counts as outstanding (one CALL at a time); its answer goes
        nowhere."""
        for outstanding in self._outstanding.values():
            if outstanding.origin is Origin.CSMS:
                outstanding.orphaned = True
        self._queue = [q for q in self._queue if q.origin is not Origin.CSMS]

    def close(self) -> list[str]:
        """Forget every call; the ids of the LC's own among them."""
        ended = [m for m, o in self._outstanding.items() if o.origin is Origin.LC]
        ended += [q.message_id for q in self._queue if q.origin is Origin.LC]
        self._outstanding.clear()
        self._queue.clear()
        return ended

    def _remember_expired(self, message_id: str) -> None:
        self._expired_lc_ids[message_id] = None
        while len(self._expired_lc_ids) > _EXPIRED_LC_IDS_KEPT:
            self._expired_lc_ids.popitem(last=False)
