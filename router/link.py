"""The asyncio side of one charger's link pair: pump frames through its `LinkSession`.

All routing decisions are the session's; this module reads frames, feeds them in with the
time, and carries out the outputs in order: writes, metrics, events, LC call results.

The per-frame path has no await between reading a frame and writing it to the other side,
and no task or coroutine of its own: outputs are carried out in a plain loop, writes start
at once (router/eager.py), and only journal writes (the `hold` policy) are awaited. In
OBSERVE mode the schema check and observation of what was relayed run right after, batched
once per turn of the event loop for all frames of the link.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sqlite3
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import WSCloseCode, WSMsgType, web
from aiohttp.client_ws import ClientWebSocketResponse

from router import events as ev
from router import replay_records
from router.arrivals import watch_arrivals
from router.chargers import ChargerCallRejected, ChargerCallTimeout
from router.eager import start_eagerly
from router.frame_deadline import FrameDeadline
from router.frame_tap import TextTaker, tap_of
from router.frames import CallError, call_error_text
from router.journal import Journal, JournalFull, StoredHandshake, disk_full
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
from router.rate_limit import FrameBudget
from router.session import LinkSession
from router.upstream import OUTAGE_REASONS, UpstreamRefused
from supervision.tasks import Tasks, report_failure

log = logging.getLogger(__name__)

EventSink = Callable[[ev.Event], None]

_FRAME_TYPES_ENDING_A_LINK = (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED)
# How long a charger closed for an unfinished frame has to answer the close frame (it cannot).
_UNFINISHED_FRAME_CLOSE_WAIT_S = 1.0
# A link whose frames are all buffered already lets the others have a turn of the event loop
# after this many (reading a frame that has not arrived yet gives them one anyway).
_FRAMES_PER_TURN = 8
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
class ChargerLimits:
    """What a link enforces on its charger's side."""

    frame_budget: FrameBudget | None = None
    # A frame whose first bytes arrived must be complete within this (router/frame_deadline.py).
    frame_timeout_s: float | None = None
    # One line per this interval for the charger's invalid frames, with a count of the rest.
    violation_log_interval_s: float = 60.0


@dataclass(frozen=True, slots=True)
class HoldLink:
    """What a link needs under the `hold` policy."""

    journal: Journal
    redial: Callable[[], Awaitable[ClientWebSocketResponse]]
    redial_interval_s: float
    # Stored with the backlog, so the LC can deliver it if the charger does not come back.
    handshake: StoredHandshake | None = None


class Link:
    def __init__(
        self,
        session: LinkSession,
        charger: web.WebSocketResponse,
        csms: ClientWebSocketResponse | None,
        metrics: RouterMetrics,
        publish: EventSink,
        limits: ChargerLimits | None = None,
        hold: HoldLink | None = None,
    ) -> None:
        self.session = session
        self.identity = session.identity
        self.version = session.version
        self._charger = charger
        self._csms = csms  # None while the CSMS is unreachable (`hold` only)
        self._hold = hold
        self._metrics = metrics
        self._publish = publish
        limits = limits or ChargerLimits()
        self._frame_budget = limits.frame_budget  # the charger's side only
        timeout = limits.frame_timeout_s
        self._frame_deadline = None if timeout is None else FrameDeadline(timeout)
        self._frame_timer: asyncio.TimerHandle | None = None
        self._reports = LinkReports(
            session.identity, session.version, metrics, publish, limits.violation_log_interval_s
        )
        self._charger_close_code: int | None = None  # set when the LC ends the link itself
        self._loop = asyncio.get_running_loop()
        self._lc_calls: dict[str, asyncio.Future[Any]] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        self._check_scheduled = False  # the batched OBSERVE-mode check is due this turn
        self._taken_this_turn = 0  # frames relayed from the taps this turn (reset by the check)
        # What a pump finishes before it relays its next frame, by where its frames go: writes
        # waiting for a socket to drain, journal writes of frames relayed from the tap.
        self._pending: dict[Direction, set[asyncio.Task[None]]] = {d: set() for d in Direction}
        self._background = Tasks(owner=session.identity)
        self._closed = asyncio.Event()
        self._close_reason = ""
        self.finished = asyncio.Event()  # set once both sockets are closed
        self._csms_dialled = asyncio.Event()  # set at each new CSMS link (`hold` only)
        self._outputs_done = asyncio.Event()  # set each time the session's outputs are carried out

    async def run(self) -> str:
        """Relay until the charger goes (or, under `close`, the CSMS); then close the other."""
        self._publish(ev.ChargerConnected(self.identity, self.version))
        if self._csms is None:  # admitted while the CSMS is unreachable (`start_offline`)
            self._publish(ev.CsmsLinkChanged(self.identity, connected=False))
        if self._hold is not None and self._csms is not None:
            # A backlog from before (an LC restart) goes first: hold the charger's calls now,
            # before its pump can relay one.
            self.session.hold_for_replay()
        if self._hold is not None:
            self._background.spawn(self._resume_refusals(), "journaled-refusals")
        pumps = {
            asyncio.create_task(self._pump(Direction.TO_CSMS), name="from-charger"): "charger",
            asyncio.create_task(self._upstream(), name="from-csms"): "csms",
            asyncio.create_task(self._closed.wait(), name="closed"): "closed",
        }
        try:
            done, _ = await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
            reason = next(pumps[task] for task in done)
            for task in done:
                if not task.cancelled() and (exc := task.exception()) is not None:
                    # A defect, not the charger's doing: it must not end a link unnoticed.
                    report_failure(task.get_name(), exc, self.identity)
        finally:
            for task in pumps:
                task.cancel()
            # A socket closes promptly only once nobody is reading it any more.
            await asyncio.gather(*pumps, return_exceptions=True)
            await self._shutdown()
            self.finished.set()
        reason = self._close_reason if reason == "closed" else f"{reason} link closed"
        self._publish(ev.ChargerDisconnected(self.identity, reason))
        return reason

    async def start_offline(self) -> None:
        """Begin with the CSMS unreachable: answer the charger here until a redial works."""
        self._metrics.upstream_connected.labels(self.identity).set(0)
        await self._execute(self.session.upstream_lost(self._loop.time()))

    def close(self, reason: str) -> None:
        """Ask `run` to end (a new connection with the same identity, or the LC stopping)."""
        self._close_reason = reason
        self._closed.set()

    async def redial_csms(self, timeout_s: float) -> bool:
        """Close the CSMS link and wait until it is dialled again (with a renewed TLS identity
        of the LC). Under `hold` only: meanwhile the charger is answered here and its
        transaction messages are journaled and replayed, as in a short outage.

        A CSMS call the charger has not answered yet is waited for (up to `timeout_s`), so
        its answer reaches the CSMS over the link the call came by.

        False when there is nothing to redial (no `hold`, no CSMS link), the link ended, or
        no new CSMS link came within `timeout_s`.
        """
        if self._hold is None or self._csms is None:
            return False
        try:
            # The charger's answer to a CSMS call goes over the link it came by: let it.
            await asyncio.wait_for(self._csms_calls_answered(), timeout_s)
        except TimeoutError:
            log.warning("%s: moving its CSMS link with a CSMS call unanswered", self.identity)
        csms = self._csms
        if csms is None:  # lost meanwhile: the redial under way uses the new identity
            return False
        self._csms_dialled.clear()
        await csms.close(code=1001, message=b"the LC renews its TLS identity")
        dialled = asyncio.create_task(self._csms_dialled.wait())
        ended = asyncio.create_task(self.finished.wait())
        try:
            await asyncio.wait(
                [dialled, ended], timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            dialled.cancel()
            ended.cancel()
        return self._csms_dialled.is_set()

    async def _csms_calls_answered(self) -> None:
        while self.session.csms_calls_in_flight:
            self._outputs_done.clear()
            await self._outputs_done.wait()

    def watch_frames(self, charger_transport: asyncio.BaseTransport | None) -> None:
        """Enforce the frame timeout on the charger's connection (once it is a WebSocket)."""
        if self._frame_deadline is not None and charger_transport is not None:
            watch_arrivals(charger_transport, self._charger_bytes_arrived)

    async def call(
        self, action: str, payload: dict[str, Any], timeout_s: float | None = None
    ) -> dict[str, Any]:
        """Send the LC's own CALL to the charger and return the CALLRESULT payload."""
        message_id, outputs = self.session.send_lc_call(
            action, payload, self._loop.time(), timeout_s
        )
        future: asyncio.Future[Any] = self._loop.create_future()
        self._lc_calls[message_id] = future
        self._carry_out(outputs)
        reply = await future
        if reply is None:
            self._metrics.lc_calls.labels(action, "timeout").inc()
            raise ChargerCallTimeout(f"{self.identity} did not answer {action}")
        if isinstance(reply, CallError):
            self._metrics.lc_calls.labels(action, "error").inc()
            raise ChargerCallRejected(reply.code, reply.description)
        self._metrics.lc_calls.labels(action, "result").inc()
        result: dict[str, Any] = reply.payload
        return result

    # -- pumping -----------------------------------------------------------------------------

    async def _upstream(self) -> None:
        """Pump the CSMS link; under `hold`, survive its loss: answer locally and redial."""
        while True:
            if self._csms is None:
                self._csms = await self._redial()
                if self._csms is None:
                    return  # the CSMS is back but refuses this charger now: so must we
                self._csms_dialled.set()
                self._publish(ev.CsmsLinkChanged(self.identity, connected=True))
            if self._hold is not None:
                await self._restore()
            self._metrics.upstream_connected.labels(self.identity).set(1)
            await self._pump(Direction.TO_CHARGER)
            self._metrics.upstream_connected.labels(self.identity).set(0)
            if self._hold is None:
                return
            log.warning("%s: CSMS link lost; answering the charger locally", self.identity)
            self._csms = None
            self._publish(ev.CsmsLinkChanged(self.identity, connected=False))
            await self._execute(self.session.upstream_lost(self._loop.time()))

    async def _redial(self) -> ClientWebSocketResponse | None:
        """The CSMS link again, or None when the CSMS answers but refuses the charger."""
        assert self._hold is not None
        while True:
            await asyncio.sleep(self._hold.redial_interval_s)
            try:
                return await self._hold.redial()
            except UpstreamRefused as refusal:
                self._metrics.upstream_connect_failures.labels(refusal.reason).inc()
                if refusal.reason not in OUTAGE_REASONS:
                    log.warning("%s: the CSMS now refuses it (%s)", self.identity, refusal)
                    return None
                log.debug("%s: CSMS still unreachable (%s)", self.identity, refusal.reason)

    async def _restore(self) -> None:
        """Deliver what the CSMS missed, in order, before anything new from the charger."""
        assert self._hold is not None
        self.session.hold_for_replay()
        backlog = await replay_records.backlog(self._hold.journal, self.identity)
        if backlog:
            log.info("%s: replaying %d messages to the CSMS", self.identity, len(backlog))
        await self._execute(self.session.upstream_restored(backlog, self._loop.time()))

    async def _pump(self, direction: Direction) -> None:
        source = self._charger if direction is Direction.TO_CSMS else self._csms
        assert source is not None
        route = (
            self.session.route_from_charger
            if direction is Direction.TO_CSMS
            else self.session.route_from_csms
        )
        from_charger = direction is Direction.TO_CSMS
        pending = self._pending[direction]
        budget = self._frame_budget if from_charger else None
        deadline = self._frame_deadline if from_charger else None
        tap = tap_of(source)
        take = None if tap is None else self._taker(route, pending, budget, deadline)
        frames_this_turn = 0
        try:
            while True:
                if deadline is not None:
                    deadline.waiting(self._loop.time())
                    self._watch_frame_deadline()
                if tap is not None:  # frames arriving while nothing else is to do: see _taker
                    tap.take = take
                message = await source.receive()
                if tap is not None:
                    tap.take = None
                if deadline is not None:
                    deadline.frame_read()
                if message.type in _FRAME_TYPES_ENDING_A_LINK:
                    break
                if budget is not None:
                    wait = budget.take(self._loop.time())
                    if wait > 0:  # not reading meanwhile: TCP holds the charger back
                        self._metrics.throttled_seconds.inc(wait)
                        await asyncio.sleep(wait)
                if message.type is WSMsgType.TEXT:
                    if pending:  # backpressure, or a journal write of the frame before
                        await asyncio.wait(set(pending))
                    started = self._loop.time()
                    rest = self._relay(route, message.data, started)
                    if rest:
                        await self._finish_relay(rest, started)
                elif message.type is WSMsgType.PING:
                    # The charger's pings (only its socket hands them over) are answered here,
                    # after its frame budget: a ping flood is read, and answered, at the frame
                    # rate.
                    with contextlib.suppress(ConnectionError):
                        await source.pong(message.data)
                elif message.type is WSMsgType.BINARY:
                    self._metrics.binary_frames_dropped.labels(direction.value).inc()
                    self._reports.invalid(
                        self._loop.time(), "binary frame dropped (%s)", direction.value
                    )
                elif message.type is WSMsgType.ERROR:
                    log.info("%s: %s link error: %s", self.identity, direction.value, message.data)
                    break
                frames_this_turn += 1
                if frames_this_turn == _FRAMES_PER_TURN:
                    frames_this_turn = 0
                    await asyncio.sleep(0)
        finally:
            if tap is not None:
                tap.take = None

    def _taker(
        self,
        route: Callable[[str, float], list[Output]],
        pending: set[asyncio.Task[None]],
        budget: FrameBudget | None,
        deadline: FrameDeadline | None,
    ) -> TextTaker:
        """Relay a text frame right from the parser while the pump waits for one: no await
        and no task per frame. Declined (the pump reads it) while a write towards the other
        side waits for it to drain or a journal write is under way (their order), while the
        charger is over its frame budget (the pump waits it out, not reading), and after
        _FRAMES_PER_TURN frames in one turn of the event loop (the pump takes turns with the
        other links for the rest of what one read brought)."""

        def take(text: str) -> bool:
            if pending or self._taken_this_turn == _FRAMES_PER_TURN:
                return False
            self._taken_this_turn += 1
            now = self._loop.time()
            if budget is not None and not budget.try_take(now):
                return False
            if deadline is not None:
                deadline.frame_read()
            try:
                rest = self._relay(route, text, now)
                if rest:
                    finishing = start_eagerly(self._finish_relay(rest, now), "journal-frame")
                    if finishing is not None:
                        pending.add(finishing)
                        finishing.add_done_callback(self._relay_finished)
            except Exception as exc:  # a defect: the link ends, as when its pump fails
                report_failure("relay", exc, self.identity)
                self.close("the relay failed")
            if deadline is not None:
                deadline.waiting(now)
                self._watch_frame_deadline()
            return True

        return take

    def _relay(
        self, route: Callable[[str, float], list[Output]], text: str, started: float
    ) -> list[Output]:
        """Route a frame and carry out its outputs up to its first journal write; the rest."""
        rest = self._carry_out(route(text, started))
        if not rest:
            self._metrics.frames.observe_relay(self._loop.time() - started)
        if not self._check_scheduled:
            # Checked and observed once on its way (OBSERVE mode), after this turn's frames
            # are written; see LinkSession.check_pending.
            self._check_scheduled = True
            self._loop.call_soon(self._check_pending)
        return rest

    async def _finish_relay(self, rest: list[Output], started: float) -> None:
        await self._execute(rest)
        self._metrics.frames.observe_relay(self._loop.time() - started)

    def _relay_finished(self, task: asyncio.Task[None]) -> None:
        for pending in self._pending.values():
            pending.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            report_failure(task.get_name(), exc, self.identity)
            self.close("the relay failed")

    def _charger_bytes_arrived(self) -> None:
        assert self._frame_deadline is not None
        if self._frame_deadline.bytes_arrived(self._loop.time()):
            self._watch_frame_deadline()

    def _watch_frame_deadline(self) -> None:
        # One timer at a time: a deadline only moves later, and the timer re-arms when early.
        assert self._frame_deadline is not None
        deadline = self._frame_deadline.deadline()
        if deadline is not None and self._frame_timer is None:
            self._frame_timer = self._loop.call_at(deadline, self._frame_deadline_reached)

    def _frame_deadline_reached(self) -> None:
        self._frame_timer = None
        assert self._frame_deadline is not None
        if not self._frame_deadline.expired(self._loop.time()):
            self._watch_frame_deadline()
            return
        limit = self._frame_deadline.limit_s
        self._metrics.frame_timeouts.inc()
        log.warning(
            "%s: closing its link: a frame was not complete within %g s", self.identity, limit
        )
        self._charger_close_code = WSCloseCode.POLICY_VIOLATION
        self.close(f"a frame was not complete within {limit:g} s")

    def _check_pending(self) -> None:
        self._check_scheduled = False
        self._taken_this_turn = 0
        rest = self._carry_out(self.session.check_pending())
        if rest:  # what the CSMS's answers taught the `hold` policy, to journal
            self._background.spawn(self._execute(rest), "journal-learned")

    def _carry_out(self, outputs: list[Output]) -> list[Output]:
        """Carry out `outputs` in order up to the first journal write; return it and the rest
        (for `_execute`, which awaits the journal)."""
        for index, output in enumerate(outputs):
            if isinstance(output, Send):
                self._send(output)
            elif isinstance(output, Relayed):
                self._reports.relayed(output)
            elif isinstance(output, Observed):
                self._publish(output.event)
                self._reports.transfer(output.event)
            elif isinstance(output, LcCallFinished):
                future = self._lc_calls.pop(output.message_id, None)
                if future is not None and not future.done():
                    future.set_result(output.reply)
            elif isinstance(output, Violation):
                self._reports.violation(output, self._loop.time())
            elif isinstance(output, LateReplyDropped):
                self._metrics.late_replies_dropped.inc()
                log.info("%s: late answer to LC call %s dropped", self.identity, output.message_id)
            elif isinstance(output, AnsweredLocally):
                self._metrics.answered_locally.labels(output.action).inc()
            elif isinstance(output, ProvisionalIdUsed):
                self._background.spawn(self._reserve_provisional_id(), "reserve-provisional-id")
            elif isinstance(output, RefusalCallEnded):
                self._reports.refusal_call(output)
            elif isinstance(output, RefusalStopping):
                log.warning("%s: stopping %s: %s", self.identity, output.transaction_id, output.why)
            else:
                self._schedule_timer()
                self._outputs_done.set()
                return outputs[index:]
        self._schedule_timer()
        self._outputs_done.set()
        return []

    async def _execute(self, outputs: list[Output]) -> None:
        """Carry out `outputs` in order, each journal write committed before what follows."""
        rest = self._carry_out(outputs)
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
            rest = self._carry_out(rest)

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

    async def _resume_refusals(self) -> None:
        """Finish what an earlier link (or LC run) could not: refusals the charger never
        answered."""
        assert self._hold is not None
        journaled = await self._hold.journal.refusals(self.identity)
        if journaled:
            await self._execute(self.session.refusals_journaled(journaled, self._loop.time()))

    async def _reserve_provisional_id(self) -> None:
        assert self._hold is not None
        fresh = await self._hold.journal.next_provisional_transaction_id(self.identity)
        self.session.provisional_id_reserved(fresh)

    def _send(self, output: Send) -> None:
        socket = self._charger if output.direction is Direction.TO_CHARGER else self._csms
        if socket is None or socket.closed:
            return  # that side is gone; the pair ends or (hold) answers locally from now on
        try:
            waiting = start_eagerly(socket.send_str(output.text), "send")
        except ConnectionError:
            self._log_gone(output.direction)
            return
        if waiting is not None:  # the socket's buffer is full: written once it drains
            self._pending[output.direction].add(waiting)
            waiting.add_done_callback(lambda task: self._sent(task, output.direction))

    def _sent(self, task: asyncio.Task[None], direction: Direction) -> None:
        self._pending[direction].discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if isinstance(exc, ConnectionError):
            self._log_gone(direction)
        elif exc is not None:
            report_failure(task.get_name(), exc, self.identity)

    def _log_gone(self, direction: Direction) -> None:
        log.info("%s: %s link gone while sending", self.identity, direction.value)

    # -- timeouts ----------------------------------------------------------------------------

    def _schedule_timer(self) -> None:
        deadline = self.session.next_deadline()
        if deadline is None or (self._timer_at is not None and self._timer_at <= deadline):
            return  # an earlier wake-up is already set; it reschedules after it runs
        if self._timer is not None:
            self._timer.cancel()
        self._timer_at = deadline
        self._timer = self._loop.call_at(deadline, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = self._timer_at = None
        rest = self._carry_out(self.session.tick(self._loop.time()))
        if rest:  # journal writes a timeout led to (none today), carried out all the same
            self._background.spawn(self._execute(rest), "timeouts")

    async def _shutdown(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        for pending in self._pending.values():
            for task in pending:
                task.cancel()
        if self._frame_deadline is not None:
            self._frame_deadline.stop()
        if self._frame_timer is not None:
            self._frame_timer.cancel()
        self._reports.closing()
        self._background.cancel()  # their calls to the charger cannot be answered any more
        with contextlib.suppress(KeyError):  # no series for a charger that is gone
            self._metrics.upstream_connected.remove(self.identity)
        for output in self.session.close():
            future = self._lc_calls.pop(output.message_id, None)
            if future is not None and not future.done():
                future.set_result(None)
        charger, csms = self._charger, self._csms
        # Mirror a normal close code; anything else (lost, ping timeout) is "going away".
        closed_first = charger if charger.closed or csms is None else csms
        code = _close_code(closed_first.close_code)
        charger_closing: Awaitable[bool]
        if self._charger_close_code is None:
            charger_closing = charger.close(code=code)
        else:  # its answer to the close frame would end up inside its unfinished frame
            charger_closing = asyncio.wait_for(
                charger.close(code=self._charger_close_code), _UNFINISHED_FRAME_CLOSE_WAIT_S
            )
        closing = [charger_closing] + ([csms.close(code=code)] if csms else [])
        await asyncio.gather(*closing, return_exceptions=True)


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


def _close_code(code: int | None) -> int:
    return code if code == WSCloseCode.OK else WSCloseCode.GOING_AWAY
