"""The asyncio side of one charger's link pair: a pump per socket feeding its `LinkSession`.

All routing decisions and workflow state are the session's. A link starts the two pumps
(router/pump.py, router/csms_side.py for the CSMS side and the `hold` policy), has the
session's outputs carried out (router/link_outputs.py), and ends both sockets together.

The per-frame path has no await between reading a frame and writing it to the other side,
and no task or coroutine of its own: text frames are relayed from aiohttp's parser
(router/frame_tap.py), outputs are carried out in a plain loop, writes start at once
(router/eager.py), and only journal writes (the `hold` policy) are awaited. In OBSERVE mode
the schema check and observation of what was relayed run right after, batched once per turn
of the event loop for all frames of the link.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, ParamSpec

from aiohttp import WSCloseCode, web
from aiohttp.client_ws import ClientWebSocketResponse

from router import events as ev
from router.chargers import ChargerCallRejected, ChargerCallTimeout
from router.csms_side import CsmsSide
from router.frame_timer import FrameTimer
from router.frames import CallError
from router.link_outputs import EventSink, HoldLink, LinkOutputs, LinkParts
from router.link_reports import LinkReports
from router.metrics import RouterMetrics
from router.outputs import Direction
from router.pump import Pump
from router.rate_limit import FrameBudget
from router.session import LinkSession
from supervision.tasks import report_failure

P = ParamSpec("P")

__all__ = ["ChargerLimits", "HoldLink", "Link"]

log = logging.getLogger(__name__)

# How long a charger closed for an unfinished frame has to answer the close frame (it cannot).
_UNFINISHED_FRAME_CLOSE_WAIT_S = 1.0


@dataclass(frozen=True, slots=True)
class ChargerLimits:
    """What a link enforces on its charger's side."""

    frame_budget: FrameBudget | None = None
    # A frame whose first bytes arrived must be complete within this (router/frame_deadline.py).
    frame_timeout_s: float | None = None
    # One line per this interval for the charger's invalid frames, with a count of the rest.
    violation_log_interval_s: float = 60.0


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
        self._hold = hold
        self._metrics = metrics
        self._publish = publish
        limits = limits or ChargerLimits()
        self._reports = LinkReports(
            session.identity, session.version, metrics, publish, limits.violation_log_interval_s
        )
        parts = LinkParts(session, metrics, publish, self._reports, hold)
        # Its parts call back weakly: a cycle would keep a closed link until a full collection.
        # The CSMS link is None while the CSMS is unreachable (`hold` only).
        self._outputs = LinkOutputs(parts, charger, csms, _weakly(self._relay_failed))
        timeout = limits.frame_timeout_s
        self._frame_timer = (
            None if timeout is None else FrameTimer(timeout, _weakly(self._frame_too_slow))
        )
        self._charger_pump = Pump(
            Direction.TO_CSMS,
            charger,
            session.route_from_charger,
            parts,
            self._outputs,
            limits.frame_budget,
            self._frame_timer,
        )
        self._csms_side = CsmsSide(parts, self._outputs)
        self._charger_close_code: int | None = None  # set when the LC ends the link itself
        self._loop = asyncio.get_running_loop()
        self._closed = asyncio.Event()
        self._close_reason = ""
        self.finished = asyncio.Event()  # set once both sockets are closed

    async def run(self) -> str:
        """Relay until the charger goes (or, under `close`, the CSMS); then close the other."""
        self._publish(ev.ChargerConnected(self.identity, self.version))
        if self._outputs.csms is None:  # admitted while the CSMS is unreachable
            self._publish(ev.CsmsLinkChanged(self.identity, connected=False))
        if self._hold is not None and self._outputs.csms is not None:
            # A backlog from before (an LC restart) goes first: hold the charger's calls now,
            # before its pump can relay one.
            self.session.hold_for_replay()
        if self._hold is not None:
            resuming = self._csms_side.resume_refusals()
            self._outputs.background.spawn(resuming, "journaled-refusals")
        pumps = {
            asyncio.create_task(self._charger_pump.run(), name="from-charger"): "charger",
            asyncio.create_task(self._csms_side.run(), name="from-csms"): "csms",
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
        await self._csms_side.start_offline()

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
        return await self._csms_side.move(timeout_s, self.finished)

    def watch_frames(self, charger_transport: asyncio.BaseTransport | None) -> None:
        """Enforce the frame timeout on the charger's connection (once it is a WebSocket)."""
        if self._frame_timer is not None and charger_transport is not None:
            self._frame_timer.watch(charger_transport)

    async def call(
        self, action: str, payload: dict[str, Any], timeout_s: float | None = None
    ) -> dict[str, Any]:
        """Send the LC's own CALL to the charger and return the CALLRESULT payload."""
        message_id, outputs = self.session.send_lc_call(
            action, payload, self._loop.time(), timeout_s
        )
        answered = self._outputs.lc_calls.wait(message_id)
        self._outputs.carry_out(outputs)
        reply = await answered
        if reply is None:
            self._metrics.lc_calls.labels(action, "timeout").inc()
            raise ChargerCallTimeout(f"{self.identity} did not answer {action}")
        if isinstance(reply, CallError):
            self._metrics.lc_calls.labels(action, "error").inc()
            raise ChargerCallRejected(reply.code, reply.description)
        self._metrics.lc_calls.labels(action, "result").inc()
        result: dict[str, Any] = reply.payload
        return result

    def _relay_failed(self) -> None:
        self.close("the relay failed")

    def _frame_too_slow(self, limit_s: float) -> None:
        self._metrics.frame_timeouts.inc()
        log.warning(
            "%s: closing its link: a frame was not complete within %g s", self.identity, limit_s
        )
        self._charger_close_code = WSCloseCode.POLICY_VIOLATION
        self.close(f"a frame was not complete within {limit_s:g} s")

    async def _shutdown(self) -> None:
        self._outputs.stop()
        if self._frame_timer is not None:
            self._frame_timer.stop()
        self._reports.closing()
        self._metrics.upstream_connected.remove(self.identity)  # no series for a charger gone
        charger, csms = self._charger, self._outputs.csms
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


def _close_code(code: int | None) -> int:
    return code if code == WSCloseCode.OK else WSCloseCode.GOING_AWAY


def _weakly(method: Callable[P, None]) -> Callable[P, None]:
    """`method`, called only while its object lives (no reference to it is kept)."""
    reference = weakref.WeakMethod(method)

    def call(*args: P.args, **kwargs: P.kwargs) -> None:
        bound = reference()
        if bound is not None:
            bound(*args, **kwargs)

    return call
