"""Refused charger handshakes: counted by reason, answered, and logged at most once per
source a minute, so a charger that retries in a loop, or a scan, cannot flood the log."""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web

from router.admission import rate_key
from router.log_limit import LogLimiter
from router.metrics import RouterMetrics

log = logging.getLogger(__name__)


class HandshakeRefusals:
    def __init__(self, metrics: RouterMetrics) -> None:
        self._metrics = metrics
        self._log_limit = LogLimiter()

    def refuse(
        self,
        source: str,
        identity: str | None,
        reason: str,
        status: int,
        why: str,
        headers: dict[str, str] | None = None,
    ) -> web.Response:
        """Count and log a refused handshake, and answer it.

        The connection is closed after the answer: a refused client gets no idle socket."""
        self._count(source, reason, f"{identity or '?'}: refused with HTTP {status}: {why}")
        response = web.Response(status=status, text=f"refused: {why}\n", headers=headers)
        response.force_close()
        return response

    def connection_closed(self, source: str, reason: str) -> None:
        """A connection closed before it completed its handshake (router/charger_connections.py)."""
        self._count(source, reason, f"connection closed before its handshake: {reason}")

    def log(self, source: str, line: str, level: int) -> None:
        """Log at most one refusal per source address (IPv6: per /64) a minute, saying how many
        were not."""
        held_back = self._log_limit.allow(rate_key(source), asyncio.get_running_loop().time())
        if held_back is not None:
            more = f" ({held_back} more refused from there in the last minute)" if held_back else ""
            log.log(level, "%s (from %s)%s", line, source, more)

    def _count(self, source: str, reason: str, line: str) -> None:
        self._metrics.charger_refusals.labels(reason).inc()
        self.log(source, line, logging.WARNING)
