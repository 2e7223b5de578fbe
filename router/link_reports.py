"""What one charger's link counts and logs about the outputs of its session: relayed frames,
violations, transfers, the calls about refused transactions, a journal at its bounds.

Log lines a charger can cause are throttled per link: its invalid frames (InvalidMessages)
and a full journal (MemoryExhaustion), the security events the spec names for them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from router import events as ev
from router.frames import ErrorKind, OcppVersion, error_code
from router.log_limit import LogThrottle
from router.metrics import RouterMetrics
from router.outputs import RefusalCallEnded, Relayed, Violation
from router.transfers import transfer_outcome

log = logging.getLogger(__name__)

# A journal at its bounds is logged as a MemoryExhaustion security event at most this often.
_BOUNDS_LOG_S = 60.0
# What of a charger's own text goes into a log line: enough to recognise, too little to flood.
_LOGGED_CHARS = 200


class LinkReports:
    def __init__(
        self,
        identity: str,
        version: OcppVersion,
        metrics: RouterMetrics,
        publish: Callable[[ev.Event], None],
        violation_log_interval_s: float,
    ) -> None:
        self._identity = identity
        self._version = version
        self._metrics = metrics
        self._publish = publish  # the security events, for the LC's security log
        self._violation_log = LogThrottle(violation_log_interval_s)
        self._bounds_log = LogThrottle(_BOUNDS_LOG_S)

    def relayed(self, relayed: Relayed) -> None:
        direction = relayed.direction.value
        self._metrics.frames.count_message(relayed.action, direction, relayed.message_type)
        if relayed.error_code is not None:
            self._metrics.call_errors.labels(relayed.error_code, direction).inc()

    def violation(self, violation: Violation, now: float) -> None:
        direction = violation.direction.value
        self._metrics.invalid_messages.labels(
            direction, violation.kind.value, str(violation.rejected).lower()
        ).inc()
        if violation.rejected:
            code = error_code(self._version, violation.kind)
            if code is not None and violation.kind is not ErrorKind.MESSAGE_TYPE:
                self._metrics.call_errors.labels(code, "lc").inc()
        self.invalid(
            now,
            "%s %s (%s): %s",
            direction,
            violation.kind.value,
            _loggable(violation.action or "-"),
            _loggable(violation.detail),
        )

    def invalid(self, now: float, message: str, *args: object) -> None:
        # InvalidMessages is the security event the spec names for this: one line and one
        # event per interval and charger, however many frames a hostile peer sends.
        unlogged = self._violation_log.occurred(now)
        if unlogged is not None:
            more = f" ({unlogged} more since the last line)" if unlogged else ""
            line = message % args + more
            log.warning("%s: InvalidMessages %s", self._identity, line)
            self._publish(ev.SecurityEventRaised(self._identity, "InvalidMessages", line))

    def transfer(self, event: ev.Event) -> None:
        if isinstance(event, ev.TransferRequested | ev.TransferStatusReported):
            outcome = transfer_outcome(event)
            if outcome is not None:
                self._metrics.charger_transfers.labels(event.kind, outcome).inc()

    def refusal_call(self, ended: RefusalCallEnded) -> None:
        """A call about a refused transaction, counted as the LC's own; suspensions and stops
        are counted and logged."""
        self._metrics.lc_calls.labels(ended.action, ended.call_outcome).inc()
        if ended.outcome is None:
            return
        self._metrics.refused_transactions.labels(ended.step, ended.outcome).inc()
        log.warning(
            "%s: the CSMS refused the id of replayed transaction %s; %s (%s): %s",
            self._identity,
            ended.transaction_id,
            ended.step,
            ended.action,
            ended.outcome,
        )

    def journal_at_bounds(self, now: float, shed: int, what: str) -> None:
        self._metrics.journal_meter_values_dropped.inc(shed)
        # The security event the spec names for this (A04, MemoryExhaustion); logged at most
        # once a minute per link: a full journal must not flood the log too.
        held_back = self._bounds_log.occurred(now)
        if held_back is not None:
            log.warning(
                "%s: MemoryExhaustion: the journal is at its bounds: %s (%d more not logged)",
                self._identity,
                what,
                held_back,
            )
            info = f"the journal is at its bounds: {what} ({held_back} more since)"
            self._publish(ev.SecurityEventRaised(self._identity, "MemoryExhaustion", info))

    def closing(self) -> None:
        """The link is closing: the count of invalid frames not logged since the last line."""
        if self._violation_log.unlogged:
            log.warning(
                "%s: InvalidMessages: %d more since the last line",
                self._identity,
                self._violation_log.unlogged,
            )


def _loggable(text: str) -> str:
    """A charger's text for a log line: cut short, control characters escaped."""
    cut = text if len(text) <= _LOGGED_CHARS else text[:_LOGGED_CHARS] + "..."
    return cut.encode("unicode_escape").decode("ascii")
