"""Carry out a link session's outputs, in order: writes to either socket, metrics, events, the
LC's own call results, and under the `hold` policy the journal writes (the only outputs that
are awaited: each commits before what follows it).

Also the link's one timer for the session's deadlines, rescheduled only when the earliest
deadline moves earlier, and the batched OBSERVE-mode check of what was relayed (once per turn
of the event loop, after that turn's frames are written).
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web
from aiohttp.client_ws import ClientWebSocketResponse

from router import events as ev
from router import replay_records
from router.eager import start_eagerly
from router.frames import call_error_text
from router.journal import Journal, JournalFull, StoredHandshake, disk_full
from router.link_calls import LcCallWaiters
from router.link_reports import LinkReports
from router.metrics import RouterMetrics
from router.outputs import (
    AnsweredLocally,
    Direction,
    JournalAppend,
    LateReplyDropped,
    LcCallFinished,
    Observed,
    OfflineOutput,
    Output,
    ProvisionalIdUsed,
    RefusalCallEnded,
    RefusalSettled,
    RefusalStopping,
    Relayed,
    Send,
    StatusRemembered,
    TransactionMapped,
    Violation,
)
from router.session import LinkSession
from supervision.tasks import Tasks, report_failure

log = logging.getLogger(__name__)

EventSink = Callable[[ev.Event], None]
Route = Callable[[str, float], list[Output]]

# What a link does with its outputs without waiting; the others are journal writes (`hold`).
_CARRIED_OUT_AT_ONCE = (
    Send,
    Relayed,
    Observed,
    LcCallFinished,
    Violation,
    LateReplyDropped,
    AnsweredLocally,
    ProvisionalIdUsed,
    RefusalCallEnded,
    RefusalStopping,
)


@dataclass(frozen=True, slots=True)
class HoldLink:
    """What a link needs under the `hold` policy."""

    journal: Journal
    redial: Callable[[], Awaitable[ClientWebSocketResponse]]
    redial_interval_s: float
    # Stored with the backlog, so the LC can deliver it if the charger does not come back.
    handshake: StoredHandshake | None = None


@dataclass(frozen=True, slots=True)
class LinkParts:
    """What the parts of one link (its outputs, pumps and CSMS side) share."""

    session: LinkSession
    metrics: RouterMetrics
    publish: EventSink
    reports: LinkReports
    hold: HoldLink | None


class LinkOutputs:
    def __init__(
        self,
        parts: LinkParts,
        charger: web.WebSocketResponse,
        csms: ClientWebSocketResponse | None,  # None while the CSMS is unreachable
        on_failure: Callable[[], None],  # a defect: the link must end
    ) -> None:
        self._session = session = parts.session
        self.identity = session.identity
        self._charger = charger
        self.csms = csms
        self._on_failure = on_failure
        self._metrics = parts.metrics
        self._publish = parts.publish
        self._reports = parts.reports
        self._hold = parts.hold
        self._loop = asyncio.get_running_loop()
        self.lc_calls = LcCallWaiters()
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        self._check_scheduled = False  # the batched OBSERVE-mode check is due this turn
        self.relayed_this_turn = 0  # frames relayed this turn (reset by the batched check)
        # What a pump finishes before it relays its next frame, by where its frames go: writes
        # waiting for a socket to drain, journal writes of frames relayed from a tap.
        self.pending: dict[Direction, set[asyncio.Task[None]]] = {d: set() for d in Direction}
        self.background = Tasks(owner=session.identity)
        self.done = asyncio.Event()  # set each time the session's outputs are carried out

    # -- relaying ----------------------------------------------------------------------------

    def relay(self, route: Route, text: str, started: float) -> list[Output]:
        """Route a frame and carry out its outputs up to its first journal write; the rest."""
        self.relayed_this_turn += 1
        rest = self.carry_out(route(text, started))
        if not rest:
            self._metrics.frames.observe_relay(self._loop.time() - started)
        if not self._check_scheduled:
            # Checked and observed once on its way (OBSERVE mode), after this turn's frames
            # are written; see LinkSession.check_pending.
            self._check_scheduled = True
            self._loop.call_soon(self._check_pending)
        return rest

    async def finish_relay(self, rest: list[Output], started: float) -> None:
        await self.execute(rest)
        self._metrics.frames.observe_relay(self._loop.time() - started)

    def finish_relay_later(self, rest: list[Output], started: float, direction: Direction) -> None:
        """`finish_relay` without waiting; the pump towards `direction` waits for it before
        its next frame."""
        finishing = start_eagerly(self.finish_relay(rest, started), "journal-frame")
        if finishing is not None:
            self.pending[direction].add(finishing)
            finishing.add_done_callback(self._relay_finished)

    def _relay_finished(self, task: asyncio.Task[None]) -> None:
        for pending in self.pending.values():
            pending.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            self.failed(task.get_name(), exc)

    def failed(self, what: str, exc: BaseException) -> None:
        """A defect, not the charger's doing: reported, and the link ends."""
        report_failure(what, exc, self.identity)
        self._on_failure()

    def _check_pending(self) -> None:
        self._check_scheduled = False
        self.relayed_this_turn = 0
        rest = self.carry_out(self._session.check_pending())
        if rest:  # what the CSMS's answers taught the `hold` policy, to journal
            self.background.spawn(self.execute(rest), "journal-learned")

    # -- carrying out ------------------------------------------------------------------------

    def carry_out(self, outputs: list[Output]) -> list[Output]:
        """Carry out `outputs` in order up to the first journal write; return it and the rest
        (for `execute`, which awaits the journal)."""
        for index, output in enumerate(outputs):
            if isinstance(output, Send):
                self._send(output)
            elif isinstance(output, Relayed):
                self._reports.relayed(output)
            elif isinstance(output, Observed):
                self._publish(output.event)
                self._reports.transfer(output.event)
            elif isinstance(output, LcCallFinished):
                self.lc_calls.finished(output.message_id, output.reply)
            elif isinstance(output, Violation):
                self._reports.violation(output, self._loop.time())
            elif isinstance(output, LateReplyDropped):
                self._metrics.late_replies_dropped.inc()
                log.info("%s: late answer to LC call %s dropped", self.identity, output.message_id)
            elif isinstance(output, AnsweredLocally):
                self._metrics.answered_locally.labels(output.action).inc()
            elif isinstance(output, ProvisionalIdUsed):
                self.background.spawn(self._reserve_provisional_id(), "reserve-provisional-id")
            elif isinstance(output, RefusalCallEnded):
                self._reports.refusal_call(output)
            elif isinstance(output, RefusalStopping):
                why = output.why
                log.warning("%s: stopping %s: %s", self.identity, output.transaction_id, why)
            else:
                self._schedule_timer()
                self.done.set()
                return outputs[index:]
        self._schedule_timer()
        self.done.set()
        return []

    async def execute(self, outputs: list[Output]) -> None:
        """Carry out `outputs` in order, each journal write committed before what follows."""
        rest = self.carry_out(outputs)
        while rest:
            output, rest = rest[0], rest[1:]
            if isinstance(output, JournalAppend):
                if not await self._journal(output):
                    # Not journaled: the charger must not take the answer as a receipt.
                    rest = answer_refused(output.text, rest)
            else:
                assert not isinstance(output, _CARRIED_OUT_AT_ONCE)
                try:
                    await self._persist(output)
                except sqlite3.OperationalError as exc:
                    if not disk_full(exc):
                        raise
                    # Bookkeeping lost, the link kept: a delivery not acknowledged is
                    # replayed again later (at-least-once).
                    self._metrics.journal_refused.labels("disk_full").inc()
                    self._reports.journal_at_bounds(
                        self._loop.time(), 0, f"{type(output).__name__} not written (disk full)"
                    )
            rest = self.carry_out(rest)

    async def _journal(self, output: JournalAppend) -> bool:
        """Journal a request within the journal's bounds; False when it could not be."""
        assert self._hold is not None
        try:
            appended = await self._hold.journal.append(
                self.identity,
                output.text,
                provisional_transaction_id=output.provisional_transaction_id,
                sent_before=output.sent_before,
                handshake=self._hold.handshake,
                periodic=output.periodic,
                transaction=output.transaction,
            )
        except JournalFull as full:
            self._metrics.journal_refused.labels(full.reason).inc()
            self._reports.journal_at_bounds(
                self._loop.time(), full.shed, f"a message refused ({full.reason})"
            )
            return False
        if appended.shed:
            self._reports.journal_at_bounds(
                self._loop.time(), appended.shed, "older periodic meter values dropped"
            )
        return True

    async def _persist(self, output: OfflineOutput) -> None:
        """Carry out the `hold` policy's bookkeeping; journal writes commit before the answer
        that follows them in the outputs goes to the charger."""
        assert self._hold is not None
        journal, identity = self._hold.journal, self.identity
        if isinstance(output, StatusRemembered):
            await journal.remember_status(identity, output.connector_key, output.text)
        elif isinstance(output, RefusalSettled):
            await journal.forget_refusal(identity, output.transaction_id)
        else:
            await replay_records.record(journal, self._metrics, identity, output)
            if isinstance(output, TransactionMapped):  # the balancer: one session, two ids
                mapped = ev.TransactionIdMapped(
                    identity, str(output.provisional), str(output.csms_id)
                )
                self._publish(mapped)

    async def _reserve_provisional_id(self) -> None:
        assert self._hold is not None
        fresh = await self._hold.journal.next_provisional_transaction_id(self.identity)
        self._session.provisional_id_reserved(fresh)

    # -- writing -----------------------------------------------------------------------------

    def _send(self, output: Send) -> None:
        socket = self._charger if output.direction is Direction.TO_CHARGER else self.csms
        if socket is None or socket.closed:
            return  # that side is gone; the pair ends or (hold) answers locally from now on
        try:
            waiting = start_eagerly(socket.send_str(output.text), "send")
        except ConnectionError:
            self._log_gone(output.direction)
            return
        if waiting is not None:  # the socket's buffer is full: written once it drains
            self.pending[output.direction].add(waiting)
            waiting.add_done_callback(lambda task: self._sent(task, output.direction))

    def _sent(self, task: asyncio.Task[None], direction: Direction) -> None:
        self.pending[direction].discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if isinstance(exc, ConnectionError):
            self._log_gone(direction)
        elif exc is not None:
            report_failure(task.get_name(), exc, self.identity)

    def _log_gone(self, direction: Direction) -> None:
        log.info("%s: %s link gone while sending", self.identity, direction.value)

    # -- the session's deadlines -------------------------------------------------------------

    def _schedule_timer(self) -> None:
        deadline = self._session.next_deadline()
        if deadline is None or (self._timer_at is not None and self._timer_at <= deadline):
            return  # an earlier wake-up is already set; it reschedules after it runs
        if self._timer is not None:
            self._timer.cancel()
        self._timer_at = deadline
        self._timer = self._loop.call_at(deadline, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = self._timer_at = None
        rest = self.carry_out(self._session.tick(self._loop.time()))
        if rest:  # journal writes a timeout led to (none today), carried out all the same
            self.background.spawn(self.execute(rest), "timeouts")

    def stop(self) -> None:
        """The link ends: no more timeouts, writes or background work; LC calls unanswered."""
        if self._timer is not None:
            self._timer.cancel()
        for pending in self.pending.values():
            for task in pending:
                task.cancel()
        self.background.cancel()  # their calls to the charger cannot be answered any more
        self.lc_calls.unanswered(self._session.close())


def answer_refused(text: str, rest: list[Output]) -> list[Output]:
    """The outputs after a request the journal refused: its answer replaced by a CALLERROR (the
    charger keeps the message and sends it again), its observations dropped."""
    message_id = json.loads(text)[1]
    for index, output in enumerate(rest):
        if isinstance(output, Send) and output.direction is Direction.TO_CHARGER:
            detail = "the LC's journal is full; send it again later"
            error = Send(Direction.TO_CHARGER, call_error_text(message_id, "InternalError", detail))
            after = rest[index + 1 :]
            # What follows up to the next frame or journal write is about this request.
            end = next(
                (n for n, later in enumerate(after) if isinstance(later, Send | JournalAppend)),
                len(after),
            )
            dropped = (Observed, AnsweredLocally)
            own = [later for later in after[:end] if not isinstance(later, dropped)]
            return [*rest[:index], error, *own, *after[end:]]
    return rest
